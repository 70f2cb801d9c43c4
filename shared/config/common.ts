import { z } from 'zod';
import { byteSize, duration } from '../duration.js';

/** "host:port" (or "[v6]:port"); port 0 asks the OS for a free port. */
export const listenAddress = z.string().transform((s, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected "host:port" like "127.0.0.1:7443", got "${s}"` });
    return z.NEVER;
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port, text: s };
});
export type ListenAddress = z.output<typeof listenAddress>;

export const tlsFiles = z
  .object({
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Name to verify on the peer's certificate when dialling an address. */
    server_name: z.string().min(1).optional(),
  })
  .strict();

export const natsSchema = z
  .object({
    servers: z.array(z.string().regex(/^(nats|tls):\/\/.+/, 'expected a URL like "nats://127.0.0.1:4222"')).min(1, 'at least one server is required'),
    user: z.string().optional(),
    password: z.string().optional(),
    token: z.string().optional(),
    creds_file: z.string().optional(),
    tls: tlsFiles.optional(),
    /** Client name shown by the server's monitoring. */
    name: z.string().optional(),
    connect_timeout: duration().prefault('5s'),
  })
  .strict()
  .refine((n) => (n.user === undefined) === (n.password === undefined), {
    message: 'user and password go together',
    path: ['user'],
  });
export type NatsConfig = z.output<typeof natsSchema>;

export const logSchema = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).prefault('info'),
  })
  .strict();

export { byteSize, duration };
