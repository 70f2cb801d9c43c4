import { parentPort, workerData } from 'node:worker_threads';
import { analyzeRange, chunkParsers } from './chunk-analysis.js';
import type { ParserSpec } from './parser.js';
import type { ParserOptions } from './record.js';

/** A worker of `analyzeParallel`: one parser for the file's format, then ranges on request. */
interface Init {
  file: string;
  spec: ParserSpec | undefined;
  /** The format auto chose from the file's sample (workers must not each guess from their own chunk). */
  format: string | undefined;
  popts: ParserOptions;
  templates: boolean;
  maxLineChars: number;
}

const init = workerData as Init;
const { parser, fast } = chunkParsers(init.format, init.spec, init.popts);
parentPort!.on('message', (m: { id: number; start: number; end: number }) => {
  try {
    const r = analyzeRange(init.file, m.start, m.end, parser, { templates: init.templates, maxLineChars: init.maxLineChars, fast });
    parentPort!.postMessage({ id: m.id, result: r });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
