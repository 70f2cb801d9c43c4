import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderSchemas } from '../scripts/gen-schema.js';
import { runCommand } from './helpers/daemons.js';
import { REPO_ROOT } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

const EXAMPLES = [
  { file: 'examples/agent.yaml', command: 'opsfleet-agent', schema: 'docs/schema/agent.schema.json' },
  { file: 'examples/controller.yaml', command: 'opsfleet-controller', schema: 'docs/schema/controller.schema.json' },
] as const;

/** Values for the `${env:NAME}` placeholders the examples show. */
const EXAMPLE_ENV = {
  OPSFLEET_NATS_PASSWORD: 'pw',
  OPSFLEET_NATS_TOKEN: 'tok',
  DINGTALK_TOKEN: 't',
  DINGTALK_SECRET: 'SECx',
  WECOM_KEY: 'k',
  SMTP_PASSWORD: 'p',
  WEBHOOK_SECRET: 's',
  FEISHU_HOOK: 'h',
  FEISHU_SECRET: 'fs',
  OPSFLEET_ENROLL_TOKEN: 'et',
};

/** Nested routes repeat the route's keys at every depth: `routes.routes.x` is documented by `routes.x`. */
const foldRecursion = (p: string) => p.replace(/(\.routes)+(?=\.|$)/g, '.routes');

type JsonSchema = Record<string, unknown>;

/** Every key path of a JSON Schema ("a.b.c"): objects, list items and union variants; records end the walk. */
function schemaPaths(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    for (const v of (schema[k] as JsonSchema[] | undefined) ?? []) out.push(...schemaPaths(v, prefix));
  }
  if (schema.items && typeof schema.items === 'object') out.push(...schemaPaths(schema.items as JsonSchema, prefix));
  for (const [k, v] of Object.entries((schema.properties as Record<string, JsonSchema> | undefined) ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.push(p, ...schemaPaths(v, p));
  }
  return out;
}

/** Every key path of a parsed YAML value, list items folded into their list's path. */
function valuePaths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) valuePaths(v, prefix, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      valuePaths(v, p, out);
    }
  }
  return out;
}

/** Turns the example's commented-out keys (`# user: x`, `#   - name: x`) into live ones, keeping the indentation. */
function uncomment(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^(\s*)#( +)((?:- )?[a-z_][a-z0-9_]*:(?: |$))/, (_m, a: string, b: string, key: string) => `${a}${b.slice(1)}${key}`))
    .join('\n');
}

describe('examples/*.yaml', () => {
  const tmp = tempDir('opsfleet-examples-');
  after(() => tmp.cleanup());

  for (const ex of EXAMPLES) {
    it(`${ex.file} is valid for ${ex.command} validate (exit 0)`, async () => {
      const r = await runCommand(ex.command, ['validate', join(REPO_ROOT, ex.file)]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /: ok/);
    });

    it(`${ex.file} is still valid with every commented-out key enabled`, async () => {
      const file = join(tmp.path, ex.file.replace('examples/', 'all-'));
      // rpc.identity (live in the example: the secure default) and rpc.tls (commented: files you
      // manage) are alternatives; the all-keys variant exercises tls, so identity goes off there.
      writeFileSync(file, uncomment(readFileSync(join(REPO_ROOT, ex.file), 'utf8')).replace(/^(\s+)identity: true$/m, '$1identity: false'));
      const r = await runCommand(ex.command, ['validate', file], EXAMPLE_ENV);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    });

    it(`${ex.file} documents every key of the config schema`, () => {
      const written = new Set([...valuePaths(parse(uncomment(readFileSync(join(REPO_ROOT, ex.file), 'utf8'))))].map(foldRecursion));
      const schema = JSON.parse(renderSchemas().get(ex.schema)!) as JsonSchema;
      const missing = [...new Set(schemaPaths(schema).map(foldRecursion))].filter((p) => !written.has(p));
      assert.deepEqual(missing, [], `${ex.file} lacks these keys (add them, commented out when optional)`);
    });
  }
});
