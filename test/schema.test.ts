import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { staleSchemas } from '../scripts/gen-schema.js';

describe('docs/schema', () => {
  it('the committed JSON Schemas match the zod config schemas (else run: npm run schema)', () => {
    assert.deepEqual(staleSchemas(), [], 'stale JSON Schema files; run: npm run schema');
  });
});
