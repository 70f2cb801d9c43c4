// Worker threads on Node 20 do not inherit the tsx loader the program registered: register it
// here, then import the TypeScript worker named in workerData.__entry (only when running the
// sources; a compiled build starts its .js worker directly).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.__entry);
