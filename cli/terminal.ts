import { OpsError } from '../shared/errors.js';
import { table } from './format.js';

/**
 * Makes remote text safe to show on a terminal: C0 controls except tab and newline, DEL and the
 * C1 range (U+0080–U+009F, where 8-bit CSI lives) become visible escapes like `\x1b`. A
 * playbook printing random bytes could otherwise move the cursor, rewrite earlier lines, set the
 * window title (OSC) or worse. A carriage return is escaped too: it can overwrite what was shown.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (c === '\r') return '\\r';
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/**
 * On a terminal, everything opsctl writes to stdout goes through escapeControls(): the one place
 * that sees tables, plain lines and streamed run output alike. `--json` output stays raw (JSON
 * escapes C0 itself, and scripts want the exact bytes). opsctl itself writes no control codes to
 * stdout (its progress line is on stderr).
 */
export function installTtyEscaping(argv: readonly string[], out: NodeJS.WriteStream = process.stdout): boolean {
  if (!out.isTTY || argv.includes('--json')) return false;
  const write = out.write.bind(out) as (chunk: unknown, ...rest: unknown[]) => boolean;
  out.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
    return write(escapeControls(text), ...rest);
  }) as typeof out.write;
  return true;
}

/**
 * The controller's URL from --controller or OPSFLEET_CONTROLLER: `127.0.0.1:8080` (no scheme)
 * means http://127.0.0.1:8080, as curl reads it; anything else unparsable is a usage error
 * naming the value.
 */
export function controllerUrl(value: string, from: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new OpsError('OPS_ERR_USAGE', `${from}: "${value}" is not a URL like http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OpsError('OPS_ERR_USAGE', `${from}: "${value}" must be an http:// or https:// URL`);
  return u.toString().replace(/\/$/, '');
}

/** Columns available: the terminal's width, else $COLUMNS, else no limit (a pipe or a file). */
export function terminalWidth(out: NodeJS.WriteStream = process.stdout): number {
  if (out.isTTY && out.columns) return out.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 20 ? env : Infinity;
}

/**
 * A table (the same box style as every opsctl table) whose columns shrink to fit `width`: the columns named in `shrinkFirst` give
 * up space first (cut with "…"), then the widest others, none below `min` characters. Whole
 * values stay available through --json and `show`.
 */
export function fittedTable(head: string[], rows: Array<Array<string | number>>, o: { width?: number; shrinkFirst?: string[]; min?: number } = {}): string {
  const width = o.width ?? terminalWidth();
  const min = o.min ?? 6;
  const cells = rows.map((r) => r.map((c) => String(c)));
  // Content width + one space of padding on each side; one border character between and around columns.
  const natural = head.map((h, i) => Math.max(h.length, ...cells.map((r) => longestLine(r[i] ?? ''))) + 2);
  const total = () => natural.reduce((a, b) => a + b, 0) + head.length + 1;
  const order = [...(o.shrinkFirst ?? []).map((n) => head.indexOf(n)).filter((i) => i >= 0)];
  while (total() > width) {
    const over = total() - width;
    const first = order.find((i) => natural[i]! > min + 2);
    const i = first ?? natural.reduce((best, w, k) => (w > natural[best]! ? k : best), 0);
    if (natural[i]! <= min + 2) break;
    natural[i] = Math.max(min + 2, natural[i]! - over);
  }
  const t = table(head, { colWidths: natural });
  for (const r of cells) t.push(r);
  return t.toString();
}

function longestLine(s: string): number {
  return Math.max(...s.split('\n').map((l) => l.length));
}
