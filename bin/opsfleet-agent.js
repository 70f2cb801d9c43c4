#!/usr/bin/env node
// The compiled bundle (dist/opsfleet-agent.js) when built, else the TypeScript sources: see run.js.
import { run } from './run.js';

await run('opsfleet-agent', 'agent/main.ts');
