import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;

/** Source files (not tests) under `dirs` whose text matches `re`, as repository paths. */
function filesMatching(re: RegExp, dirs = ['agent', 'controller', 'cli', 'shared']): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(join(root, d))) {
      const rel = `${d}/${name}`;
      if (statSync(join(root, rel)).isDirectory()) {
        if (name !== 'gen') walk(rel);
      } else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.test.ts') && re.test(readFileSync(join(root, rel), 'utf8'))) out.push(rel);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

// One of each helper: before writing one, use the one that exists. Each line names the only
// file allowed to hold the thing; a second copy anywhere fails here.
test('one opsctl table and print setup: cli/format.ts', () => {
  assert.deepEqual(filesMatching(/new Table\(/, ['cli']), ['cli/format.ts']);
  assert.deepEqual(filesMatching(/function print\(/, ['cli']), ['cli/format.ts']);
});

test('one HTTP JSON body reader: controller/api/body-reader.ts', () => {
  assert.deepEqual(filesMatching(/for await \(const \w+ of req\b|req\.on\('data'/), ['controller/api/body-reader.ts']);
});

test('one NATS connection-status loop: shared/nats/connect.ts', () => {
  assert.deepEqual(filesMatching(/\.status\(\)\)/), ['shared/nats/connect.ts']);
});

test('one config-error printer: shared/errors.ts', () => {
  assert.deepEqual(filesMatching(/\bformatProblem\b/), ['shared/errors.ts']);
});

test('JetStream API errors are compared with the client\'s JetStreamApiCodes, not raw numbers', () => {
  assert.deepEqual(filesMatching(/\.code === 100\d\d\b/), []);
});
