import { open, stat } from 'node:fs/promises';
import type { CheckOf } from '../../shared/config/health.js';
import { formatDuration } from '../../shared/duration.js';
import { fail, ok, since, type CheckKind, type ProbeResult } from './types.js';

/** Bytes read for `contains`: enough for a status or heartbeat file. */
const MAX_READ = 64 * 1024;

/** A file exists, was modified recently enough (a heartbeat file), is big enough, contains text. */
export const fileCheck: CheckKind<'file'> = {
  type: 'file',
  async probe(cfg: CheckOf<'file'>): Promise<ProbeResult> {
    const start = performance.now();
    let st;
    try {
      st = await stat(cfg.path);
    } catch (err) {
      return fail(`${cfg.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, since(start));
    }
    const age = Date.now() - st.mtimeMs;
    if (cfg.max_age !== undefined && age > cfg.max_age) return fail(`${cfg.path} last modified ${formatDuration(Math.round(age / 1000) * 1000)} ago, older than ${formatDuration(cfg.max_age)}`, since(start));
    if (cfg.min_size !== undefined && st.size < cfg.min_size) return fail(`${cfg.path} is ${st.size} bytes, under ${cfg.min_size}`, since(start));
    if (cfg.contains !== undefined) {
      const fh = await open(cfg.path, 'r');
      try {
        const buf = Buffer.alloc(Math.min(MAX_READ, st.size));
        await fh.read(buf, 0, buf.length, 0);
        if (!buf.toString('utf8').includes(cfg.contains)) return fail(`${cfg.path} lacks "${cfg.contains}"`, since(start));
      } finally {
        await fh.close();
      }
    }
    return ok(`${cfg.path} ${st.size} bytes, modified ${Math.round(age / 1000)}s ago`, since(start));
  },
};
