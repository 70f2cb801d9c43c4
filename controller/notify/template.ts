import { cutGraphemes } from './text-cut.js';
import type { AlertView, NotificationGroup, OutgoingMessage } from './types.js';

/** Per-receiver overrides from config (`template: { title, alert }`). */
export interface TemplateOverrides {
  title?: string | undefined;
  alert?: string | undefined;
  /** Words of titles and headers: Chinese, English, or both side by side (the default). */
  language?: 'zh' | 'en' | 'both' | undefined;
  /** A compiled per-receiver template (templates.ts) rendering one alert; undefined = use the default block. */
  alertFn?: ((vars: Record<string, unknown>) => string | undefined) | undefined;
}

export interface Rendered {
  title: string;
  text: string;
  /** Alerts left out to fit the byte limit. */
  truncated: number;
}

type Style = 'markdown' | 'text' | 'html';

const SEVERITY_ICON: Record<string, string> = { critical: '🔴', error: '🔴', warning: '🟠', warn: '🟠', info: '🔵' };

/** "2026-11-27 13:40:05" in the controller's local time; operators read it at a glance. */
export function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function since(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** Replaces {{name}}, {{labels.x}}, {{annotations.x}}; unknown names become empty. */
export function fill(tpl: string, vars: Record<string, string>, a?: AlertView): string {
  return tpl.replace(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g, (_m, key: string) => {
    if (a && key.startsWith('labels.')) return a.labels[key.slice(7)] ?? '';
    if (a && key.startsWith('annotations.')) return a.annotations[key.slice(12)] ?? '';
    return vars[key] ?? '';
  });
}

function statusWord(status: 'firing' | 'resolved', n: number, lang: TemplateOverrides['language'] = 'both'): string {
  if (lang === 'zh') return status === 'firing' ? `告警:${n}` : `已恢复:${n}`;
  if (lang === 'en') return status === 'firing' ? `FIRING:${n}` : `RESOLVED:${n}`;
  return status === 'firing' ? `告警 FIRING:${n}` : `已恢复 RESOLVED:${n}`;
}

function groupName(g: NotificationGroup): string {
  return Object.values(g.groupLabels).join(' ') || 'all';
}

/** Title of a message: `[告警 FIRING:2] DiskFull web-01`, or a digest's count. */
export function titleOf(msg: OutgoingMessage, tpl?: TemplateOverrides): string {
  const prefix = msg.kind === 'test' ? '[测试 TEST] ' : msg.kind === 'fallback' ? `[转发 FALLBACK from ${msg.failedReceiver ?? '?'}] ` : '';
  if (msg.groups.length === 1 && msg.kind !== 'digest') {
    const g = msg.groups[0]!;
    const n = g.status === 'firing' ? g.firing.length : g.resolved.length;
    if (tpl?.title) {
      return prefix + fill(tpl.title, { status: g.status, count: String(n), group: groupName(g), ...g.groupLabels });
    }
    return `${prefix}[${statusWord(g.status, n, tpl?.language)}] ${groupName(g)}`;
  }
  const firing = msg.groups.reduce((s, g) => s + g.firing.length, 0);
  const resolved = msg.groups.reduce((s, g) => s + g.resolved.length, 0);
  return `${prefix}[汇总 DIGEST] ${msg.merged} notifications merged: ${firing} firing, ${resolved} resolved`;
}

function alertVars(a: AlertView, now: number): Record<string, string> {
  return {
    status: a.status,
    alertname: a.labels.alertname ?? '',
    host: a.labels.host ?? '',
    severity: a.labels.severity ?? '',
    summary: a.annotations.summary ?? '',
    description: a.annotations.description ?? '',
    remediation: a.annotations.remediation ?? '',
    since: localTime(a.startsAt),
    duration: since(a.startsAt, a.endsAt ? Date.parse(a.endsAt) : now),
    ends: a.endsAt ? localTime(a.endsAt) : '',
    count: String(a.count),
    fingerprint: a.fingerprint,
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** One alert's block in the chosen style. */
function alertBlock(a: AlertView, style: Style, now: number, tpl?: TemplateOverrides): string {
  const v = alertVars(a, now);
  if (tpl?.alertFn) {
    const out = tpl.alertFn({ ...v, labels: a.labels, annotations: a.annotations, alert: a });
    if (out !== undefined) return out;
  }
  if (tpl?.alert) return fill(tpl.alert, v, a) + '\n';
  const icon = a.status === 'resolved' ? '✅' : (SEVERITY_ICON[v.severity] ?? '⚪');
  const when = a.status === 'resolved' ? `${v.since} → ${v.ends} (持续 lasted ${v.duration})` : `${v.since} (已持续 for ${v.duration})`;
  const extra = Object.entries(a.labels)
    .filter(([k]) => !['alertname', 'host', 'severity'].includes(k))
    .map(([k, val]) => `${k}=${val}`)
    .join(', ');
  if (style === 'markdown') {
    return [
      `#### ${icon} ${v.alertname}${v.host ? ` @ ${v.host}` : ''}`,
      `- **级别 severity**: ${v.severity || '-'}`,
      `- **摘要 summary**: ${v.summary || '-'}`,
      v.description ? `- **详情 description**: ${v.description}` : '',
      v.remediation ? `- **自愈 remediation**: ${v.remediation}` : '',
      `- **开始 since**: ${when}`,
      `- **次数 count**: ${v.count}`,
      extra ? `- **标签 labels**: ${extra}` : '',
    ]
      .filter(Boolean)
      .join('\n') + '\n';
  }
  if (style === 'html') {
    return `<li><b>${esc(icon)} ${esc(v.alertname)}${v.host ? ` @ ${esc(v.host)}` : ''}</b> [${esc(v.severity || '-')}]<br>${esc(v.summary || '-')}${v.description ? `<br><i>${esc(v.description)}</i>` : ''}${v.remediation ? `<br>remediation: ${esc(v.remediation)}` : ''}<br>${esc(when)} · count ${v.count}${extra ? `<br><small>${esc(extra)}</small>` : ''}</li>\n`;
  }
  return [`${icon} ${v.alertname}${v.host ? ` @ ${v.host}` : ''} [${v.severity || '-'}]`, `  ${v.summary || '-'}`, v.description ? `  ${v.description}` : '', v.remediation ? `  remediation: ${v.remediation}` : '', `  ${when}, count ${v.count}`, extra ? `  ${extra}` : '']
    .filter(Boolean)
    .join('\n') + '\n';
}

function groupHeader(g: NotificationGroup, part: 'firing' | 'resolved', style: Style, lang?: TemplateOverrides['language']): string {
  const n = part === 'firing' ? g.firing.length : g.resolved.length;
  const head = `${statusWord(part, n, lang)} — ${groupName(g)}`;
  if (style === 'markdown') return `### ${head}\n`;
  if (style === 'html') return `<h3>${esc(head)}</h3>\n`;
  return `== ${head} ==\n`;
}

/**
 * Renders a message and cuts it to `maxBytes` (UTF-8) in one pass: whole alert blocks are kept
 * from the start while they fit, the rest is replaced by a "… N more" line that names as many of
 * the left-out alerts as still fit (and links to the rest when `moreUrl` is given). When not even
 * the first alert's block fits, it is cut on a grapheme boundary rather than dropped, so a message
 * always says which alerts it is about. Alert blocks are rendered only as far as they are used.
 */
export function render(
  msg: OutgoingMessage,
  style: Style,
  maxBytes: number,
  opts: { now?: number; template?: TemplateOverrides | undefined; prefix?: string; suffix?: string; moreUrl?: string | undefined } = {},
): Rendered {
  const now = opts.now ?? Date.now();
  const title = titleOf(msg, opts.template);
  const head = style === 'markdown' ? `## ${title}\n\n` : style === 'html' ? `<h2>${esc(title)}</h2>\n` : `${title}\n\n`;
  type Piece = { text: string; alert?: undefined } | { text?: undefined; alert: AlertView };
  const pieces: Piece[] = [];
  if (opts.prefix) pieces.push({ text: opts.prefix });
  for (const g of msg.groups) {
    for (const part of ['firing', 'resolved'] as const) {
      const list = part === 'firing' ? g.firing : g.resolved;
      if (list.length === 0) continue;
      pieces.push({ text: groupHeader(g, part, style, opts.template?.language) + (style === 'html' ? '<ul>\n' : '') });
      for (const a of list) pieces.push({ alert: a });
      if (style === 'html') pieces.push({ text: '</ul>\n' });
    }
  }
  const suffix = opts.suffix ?? '';
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  // Alerts from piece i to the end, computed once (a digest can hold thousands of alerts).
  const alertsFrom = new Array<number>(pieces.length + 1).fill(0);
  for (let i = pieces.length - 1; i >= 0; i--) alertsFrom[i] = alertsFrom[i + 1]! + (pieces[i]!.alert ? 1 : 0);
  const total = alertsFrom[0]!;
  const more = (n: number) => (style === 'html' ? `<p>… ${n} more (${total} alerts in total)</p>\n` : `\n… ${n} more (${total} alerts in total)\n`);
  // A cut message names the alerts it leaves out: keep an eighth of the limit (at most 400 bytes) for that.
  const namesReserve = Math.min(400, Math.floor(maxBytes / 8));
  let used = bytes(head) + bytes(suffix);
  let out = head;
  let truncated = 0;
  let kept = 0;
  let stopAt = pieces.length;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    const remaining = alertsFrom[i]!;
    const text = p.alert ? alertBlock(p.alert, style, now, opts.template) : p.text;
    // Room for the "… N more" line of the alerts after this one, and for some of their names.
    const reserve = p.alert && remaining > 1 ? bytes(more(remaining - 1)) + namesReserve : 0;
    if (used + bytes(text) + reserve > maxBytes || (!p.alert && used + bytes(text) > maxBytes)) {
      stopAt = i;
      truncated = remaining;
      if (p.alert && kept === 0) {
        // Keep the first alert, cut: its name and summary come first in the block.
        const after = remaining > 1 ? bytes(more(remaining - 1)) + namesReserve : 0;
        const room = maxBytes - used - after - 1;
        if (room >= 32) {
          const cut = `${cutGraphemes(text.replace(/\n+$/, ''), room, '…')}\n`;
          out += cut;
          used += bytes(cut);
          kept++;
          truncated = remaining - 1;
          stopAt = i + 1;
        }
      }
      break;
    }
    out += text;
    used += bytes(text);
    if (p.alert) kept++;
  }
  if (truncated > 0) out += moreLine(pieces, stopAt, truncated, maxBytes - used, more(truncated), style, opts.moreUrl);
  out += suffix;
  // A title or prefix alone can exceed a tiny limit: cut on graphemes as a last resort.
  if (bytes(out) > maxBytes) out = cutGraphemes(out, maxBytes);
  return { title, text: out, truncated };
}

/**
 * The "… N more" line, naming the left-out alerts (alertname@host) from `from` on while they fit
 * in `room` bytes, then the link to the rest when it fits too.
 */
function moreLine(pieces: ReadonlyArray<{ alert?: AlertView | undefined }>, from: number, n: number, room: number, base: string, style: Style, moreUrl?: string): string {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  const close = style === 'html' ? '</p>\n' : '\n';
  const stem = base.slice(0, base.length - close.length);
  let line = stem;
  let left = room - bytes(base);
  // The link first (it leads to everything), then as many names as still fit.
  const link = moreUrl ? (style === 'html' ? ` <a href="${esc(moreUrl)}">${esc(moreUrl)}</a>` : ` ${moreUrl}`) : '';
  const withLink = link !== '' && bytes(link) <= left;
  if (withLink) left -= bytes(link);
  let sep = ': ';
  for (let i = from; i < pieces.length; i++) {
    const a = pieces[i]!.alert;
    if (!a) continue;
    const name = `${a.labels.alertname ?? '?'}${a.labels.host ? `@${a.labels.host}` : ''}`;
    const piece = sep + (style === 'html' ? esc(name) : name);
    // Always leave room for ", …" after the last name.
    if (bytes(piece) + 5 > left) {
      if (sep !== ': ') line += ', …';
      break;
    }
    line += piece;
    left -= bytes(piece);
    sep = ', ';
  }
  if (withLink) line += link;
  return line + close;
}

/** Cuts a string to at most `max` UTF-8 bytes on a grapheme boundary (see text-cut.ts). */
export function cutBytes(s: string, max: number): string {
  return cutGraphemes(s, max);
}
