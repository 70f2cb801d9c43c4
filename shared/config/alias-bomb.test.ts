import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCommand } from '../../test/helpers/daemons.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { ConfigError } from '../errors.js';
import { agentConfigSchema } from './agent.js';
import { parseConfigText } from './load.js';

const dir = tempDir('opsfleet-alias-bomb-');
after(() => dir.cleanup());

/** The billion laughs: nine levels of nine aliases each. */
function bomb(): string {
  const lines = ['host: { id: web-01 }', 'nats: { servers: ["nats://127.0.0.1:4222"] }', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  let prev = 'a';
  for (const n of 'bcdefghi') {
    lines.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]`);
    prev = n;
  }
  return `${lines.join('\n')}\n`;
}

describe('a YAML alias bomb is a config error with a position', () => {
  it('parseConfigText throws ConfigError naming the alias at FILE:LINE:COL', () => {
    assert.throws(
      () => parseConfigText(bomb(), 'agent.yaml', agentConfigSchema),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.problems.length, 1);
        const p = err.problems[0]!;
        assert.deepEqual([p.file, p.line, p.col], ['agent.yaml', 11, 8]);
        assert.match(p.message, /alias \*h expands to \d+ nodes: refused as a YAML alias bomb/);
        return true;
      },
    );
  });

  it('opsfleet-agent validate exits 2 with the FILE:LINE:COL line', async () => {
    const file = join(dir.path, 'agent.yaml');
    writeFileSync(file, bomb());
    const r = await runCommand('opsfleet-agent', ['validate', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:11:8 \\(root\\): alias \\*h expands`, 'm'));
  });
});
