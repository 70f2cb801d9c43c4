import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/** Default body limit; routes that carry more (alert batches) set their own. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** What is read and dropped after an oversized body before the connection is closed. */
const DRAIN_MAX = 16 * 1024 * 1024;

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'OPS_ERR_BODY_TOO_LARGE', `request body over ${limit} bytes (this route's limit)`);
}

/**
 * Reads a JSON request body of at most `limit` bytes. A declared Content-Length over the limit
 * is refused before a byte is read. The stream is read with events, not `for await`: leaving
 * a `for await` early destroys the request and with it the socket, which the client saw as a
 * connection reset instead of the 413. Here the rest of an oversized body is left for the
 * server to drain, so the client reads the answer. Empty body: `undefined`.
 */
export function readJsonBody(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (c: Buffer) => {
      size += c.length;
      if (over) {
        // Draining lets the client read the 413; a sender that never stops is cut off.
        if (size > limit + DRAIN_MAX) req.socket.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('error', (err) => reject(new HttpError(400, 'OPS_ERR_BAD_REQUEST', `request body could not be read: ${err.message}`)));
    req.once('end', () => {
      if (over) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new HttpError(400, 'OPS_ERR_BAD_JSON', `request body is not JSON: ${(err as Error).message}`));
      }
    });
  });
}

/** Turns zod issues into one line naming each field. */
export function zodMessage(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

/**
 * Validates a parsed body against the route's schema. An empty body counts as `{}`, so routes
 * whose fields are all optional can be POSTed bare; anything else must satisfy the schema
 * (every route's schema is an object, alerts also take an array of objects).
 */
export function validateBody<S extends z.ZodType>(schema: S, body: unknown, code = 'OPS_ERR_BAD_REQUEST'): z.output<S> {
  const parsed = schema.safeParse(body === undefined ? {} : body);
  if (!parsed.success) throw new HttpError(400, code, zodMessage(parsed.error));
  return parsed.data;
}
