// Worker threads on Node 20 do not inherit `--import tsx` for their entry file: register tsx's
// loader here, then import the TypeScript worker named in workerData.__entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.__entry);
