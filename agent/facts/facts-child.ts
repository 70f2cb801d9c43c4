// Entry of the facts gathering process (gather-in-child.ts): gathers once, sends the FactsDoc
// over IPC and exits, so systeminformation's modules and whatever its probes allocate never
// live in the agent's own heap. A TypeScript module like the rest: compiled, it runs as plain
// JavaScript beside the agent bundle; in development the parent forks it with tsx's loader.
import { gatherFacts } from './gather.js';

gatherFacts().then(
  (doc) => process.send!({ ok: doc }, undefined, {}, () => process.exit(0)),
  (err: unknown) => process.send!({ error: (err as Error).message ?? String(err) }, undefined, {}, () => process.exit(1)),
);
