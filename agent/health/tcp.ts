import { connect } from 'node:net';
import type { CheckOf } from '../../shared/config/health.js';
import { fail, ok, since, type CheckKind, type ProbeResult } from './types.js';

/** TCP connect, optionally send a line and expect a banner (like "SSH-"). */
export const tcpCheck: CheckKind<'tcp'> = {
  type: 'tcp',
  probe(cfg: CheckOf<'tcp'>, signal: AbortSignal): Promise<ProbeResult> {
    const start = performance.now();
    return new Promise<ProbeResult>((resolve) => {
      let done = false;
      let received = '';
      const sock = connect({ host: cfg.host, port: cfg.port });
      const finish = (r: ProbeResult) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        sock.destroy();
        resolve(r);
      };
      const onAbort = () => finish(fail(`${cfg.host}:${cfg.port}: timed out${received ? ` (got "${received.slice(0, 40)}")` : ''}`, since(start)));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      sock.setEncoding('utf8');
      sock.on('connect', () => {
        if (cfg.send) sock.write(cfg.send);
        if (!cfg.expect) finish(ok(`connected to ${cfg.host}:${cfg.port}`, since(start)));
      });
      sock.on('data', (d: string) => {
        received += d;
        if (cfg.expect && received.includes(cfg.expect)) finish(ok(`got "${cfg.expect}"`, since(start)));
        else if (received.length > 8192) finish(fail(`no "${cfg.expect}" in the first 8 KiB`, since(start)));
      });
      sock.on('end', () => finish(fail(`closed before "${cfg.expect}"${received ? ` (got "${received.slice(0, 40)}")` : ''}`, since(start))));
      sock.on('error', (err: NodeJS.ErrnoException) => finish(fail(`${cfg.host}:${cfg.port}: ${err.code ?? err.message}`, since(start))));
    });
  },
};
