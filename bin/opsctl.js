#!/usr/bin/env node
// The compiled bundle (dist/opsctl.js) when built, else the TypeScript sources: see run.js.
import { run } from './run.js';

await run('opsctl', 'cli/opsctl.ts');
