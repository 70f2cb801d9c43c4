import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './process.js';

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from a CA the agent does not trust. */
  rogueCert: string;
  rogueKey: string;
}

function makeCerts(dir: string, ...args: string[]): void {
  execFileSync('bash', [join(REPO_ROOT, 'scripts/make-certs.sh'), dir, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway PKI made with the project's own scripts/make-certs.sh (so the script is tested too). */
export function makePki(dir: string): TestPki {
  const good = join(dir, 'pki');
  const rogue = join(dir, 'rogue');
  makeCerts(good, 'ca');
  makeCerts(good, 'agent', 'secure-01', 'DNS:localhost', 'IP:127.0.0.1');
  makeCerts(good, 'controller');
  makeCerts(rogue, 'ca');
  makeCerts(rogue, 'controller');
  return {
    ca: join(good, 'ca.crt'),
    serverCert: join(good, 'agent-secure-01.crt'),
    serverKey: join(good, 'agent-secure-01.key'),
    clientCert: join(good, 'controller.crt'),
    clientKey: join(good, 'controller.key'),
    rogueCert: join(rogue, 'controller.crt'),
    rogueKey: join(rogue, 'controller.key'),
  };
}
