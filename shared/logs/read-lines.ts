import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { OpsError } from '../errors.js';

export interface LineChunk {
  /** Complete lines, without "\n" (a trailing "\r" is removed too). */
  lines: string[];
  /** Bytes of input this chunk covered (compressed input: decompressed bytes). */
  bytes: number;
  /** Lines cut to maxLineChars in this chunk. */
  truncated: number;
}

/**
 * Reads a file ("-" for stdin; gzip detected by its magic bytes, whatever the name) as chunks of
 * lines. Invalid UTF-8 becomes U+FFFD and is never fatal. A line longer than maxLineChars is
 * cut and counted, so one 10 MB line cannot grow memory without bound.
 */
export async function* readLineChunks(file: string, opts: { maxLineChars?: number; stdin?: Readable } = {}): AsyncGenerator<LineChunk> {
  const max = opts.maxLineChars ?? 1 << 20;
  let src: Readable;
  if (file === '-') src = opts.stdin ?? process.stdin;
  else src = createReadStream(file, { highWaterMark: 1 << 20 });
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let restTruncated = false;
  let input: AsyncIterable<Buffer> = src as AsyncIterable<Buffer>;
  try {
    const it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const head = await it.next();
    if (head.done) return;
    const firstBuf = head.value as Buffer;
    if (firstBuf.length >= 2 && firstBuf[0] === 0x1f && firstBuf[1] === 0x8b) {
      const gunzip = createGunzip();
      (async () => {
        try {
          gunzip.write(firstBuf);
          for (let n = await it.next(); !n.done; n = await it.next()) {
            if (!gunzip.write(n.value as Buffer)) await new Promise((r) => gunzip.once('drain', r));
          }
          gunzip.end();
        } catch (err) {
          gunzip.destroy(err as Error);
        }
      })();
      input = gunzip;
    } else {
      input = (async function* () {
        yield firstBuf;
        for (let n = await it.next(); !n.done; n = await it.next()) yield n.value as Buffer;
      })();
    }
    for await (const buf of input) {
      const text = rest + decoder.write(buf);
      const lines = text.split('\n');
      rest = lines.pop()!;
      let truncated = 0;
      if (restTruncated && lines.length > 0) {
        // The head of this line was already cut: the remainder of the oversized line is dropped.
        lines.shift();
        restTruncated = false;
      }
      for (let i = 0; i < lines.length; i++) {
        let l = lines[i]!;
        if (l.length > max) {
          l = l.slice(0, max);
          truncated++;
        }
        if (l.charCodeAt(l.length - 1) === 13) l = l.slice(0, -1);
        lines[i] = l;
      }
      if (rest.length > max) {
        // Emit the head now; skip the tail until the next newline.
        if (!restTruncated) {
          lines.push(rest.slice(0, max));
          truncated++;
        }
        restTruncated = true;
        rest = '';
      }
      yield { lines, bytes: buf.length, truncated };
    }
    const tail = rest + decoder.end();
    if (tail !== '' && !restTruncated) yield { lines: [tail.replace(/\r$/, '')], bytes: 0, truncated: 0 };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OpsError('OPS_ERR_LOGS_READ', `cannot read ${file === '-' ? 'stdin' : file}: ${code ?? (err as Error).message}`, { cause: err });
  }
}
