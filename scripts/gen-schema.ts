/**
 * Generates JSON Schemas of the daemons' config files from the zod schemas in shared/config
 * (the single source of truth), for editors (yaml-language-server) and docs:
 *   docs/schema/agent.schema.json, docs/schema/controller.schema.json
 *
 *   npm run schema            # write them
 *   npm run schema -- --check # exit 1 when the committed files are stale
 *
 * `io: 'input'` describes what an operator writes (durations and sizes as strings, defaulted
 * fields optional), not the compiled config the daemons use.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { agentConfigSchema } from '../shared/config/agent.js';
import { controllerConfigSchema } from '../shared/config/controller.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const SCHEMAS: Array<{ file: string; title: string; description: string; schema: z.ZodType }> = [
  { file: 'docs/schema/agent.schema.json', title: 'opsfleet agent configuration', description: 'agent.yaml (opsfleet-agent --config FILE); see docs/configuration.md and examples/agent.yaml', schema: agentConfigSchema },
  {
    file: 'docs/schema/controller.schema.json',
    title: 'opsfleet controller configuration',
    description: 'controller.yaml (opsfleet-controller --config FILE); see docs/configuration.md and examples/controller.yaml',
    schema: controllerConfigSchema,
  },
];

/** The generated files: repository-relative path → exact text. */
export function renderSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of SCHEMAS) {
    const json = z.toJSONSchema(s.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    const doc = { $schema: json.$schema, title: s.title, description: s.description, ...json };
    out.set(s.file, `${JSON.stringify(doc, null, 2)}\n`);
  }
  return out;
}

/** Paths whose committed text differs from what the zod schemas generate now. */
export function staleSchemas(): string[] {
  const stale: string[] = [];
  for (const [file, text] of renderSchemas()) {
    const path = join(root, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(file);
  }
  return stale;
}

function main(): void {
  if (process.argv.includes('--check')) {
    const stale = staleSchemas();
    if (stale.length > 0) {
      process.stderr.write(`schema: ${stale.join(', ')} out of date with shared/config; run: npm run schema\n`);
      process.exit(1);
    }
    process.stdout.write('schema: docs/schema is in sync with shared/config\n');
    return;
  }
  for (const [file, text] of renderSchemas()) {
    const path = join(root, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`schema: wrote ${relative(process.cwd(), path) || path}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
