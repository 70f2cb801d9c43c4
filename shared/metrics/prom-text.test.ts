import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PromText } from './prom-text.js';

/**
 * A strict reader of the text exposition format (0.0.4): HELP and TYPE at most once per family
 * and before its samples, every sample of a family in one contiguous group, names and labels
 * well formed, values parseable. Throws naming the line on the first violation.
 */
function parseStrict(text: string): Map<string, { type: string; samples: number }> {
  const families = new Map<string, { type: string; samples: number }>();
  const closed = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  const open = (name: string, n: number) => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`line ${n}: family ${name} appears again after another family`);
      if (current) closed.add(current);
      current = name;
    }
  };
  lines.forEach((line, i) => {
    const n = i + 1;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      open(m[2]!, n);
      const f = families.get(m[2]!) ?? { type: '', samples: 0 };
      if (f.samples > 0) throw new Error(`line ${n}: ${m[1]} of ${m[2]} after its samples`);
      if (m[1] === 'TYPE') {
        if (f.type) throw new Error(`line ${n}: second TYPE for ${m[2]}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) throw new Error(`line ${n}: bad type ${m[3]}`);
        f.type = m[3]!;
      }
      families.set(m[2]!, f);
      return;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (?<v>\S+)$/.exec(line);
    if (!m) throw new Error(`line ${n}: not a sample: ${line}`);
    open(m[1]!, n);
    if (!/^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(m.groups!.v!)) throw new Error(`line ${n}: bad value ${m.groups!.v}`);
    const f = families.get(m[1]!) ?? { type: 'untyped', samples: 0 };
    f.samples++;
    families.set(m[1]!, f);
  });
  return families;
}

describe('Prometheus text', () => {
  it('groups every sample under its family although they are added interleaved', () => {
    const p = new PromText();
    // The controller's /metrics adds per check: up, restarts, then the next check's up...
    for (const check of ['a', 'b', 'c']) {
      p.add('opsfleet_check_up', 'gauge', 'Up.', 1, { check });
      p.add('opsfleet_check_restarts_total', 'counter', 'Restarts.', 2, { check, note: 'quote " and \\ and\nnewline' });
    }
    p.addProcess();
    const fams = parseStrict(p.render());
    assert.equal(fams.get('opsfleet_check_up')?.samples, 3);
    assert.equal(fams.get('opsfleet_check_restarts_total')?.samples, 3);
    assert.equal(fams.get('opsfleet_check_restarts_total')?.type, 'counter');
  });

  it('the strict reader refuses an interleaved family (what /metrics used to print)', () => {
    assert.throws(() => parseStrict('# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="2"} 2\n'), /family a appears again/);
  });
});
