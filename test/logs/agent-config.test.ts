import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('opsfleet-logs-cfg-');
after(() => tmp.cleanup());

describe('agent logs: config errors', () => {
  it('a bad regex, an unknown preset and a typo are reported with file:line:col, exit 2', async () => {
    const file = join(tmp.path, 'agent.yaml');
    writeFileSync(
      file,
      [
        'nats: { servers: ["nats://127.0.0.1:4222"] }',
        `state_dir: ${join(tmp.path, 'state')}`,
        'logs:',
        '  - name: app',
        '    paths: ["/var/log/app/*.log"]',
        "    parser: { regex: '^(?<ts>\\S+ (?<level>\\w+' }",
        '  - name: web',
        '    paths: ["/var/log/nginx/access.log"]',
        '    parser: { preset: nginx }',
        '    rules:',
        '      - { name: burst, level: ERROR, threshold: 10, windw: 60s }',
        '',
      ].join('\n'),
    );
    const r = await runCommand('opsfleet-agent', ['--config', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /agent\.yaml:6:\d+ logs\[0\]\.parser\.regex: invalid regex/);
    assert.match(out, /agent\.yaml:9:\d+ logs\[1\]\.parser\.preset: unknown preset "nginx"/);
    assert.match(out, /agent\.yaml:11:\d+ logs\[1\]\.rules\[0\]\.windw: unknown key "windw"/);
  });
});
