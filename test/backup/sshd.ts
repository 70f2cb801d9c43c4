import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { Child } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { createConnection } from 'node:net';

export const SSHD = '/usr/sbin/sshd';

/**
 * A private sshd (Debian's openssh-server) on a random loopback port with a throwaway host key
 * and client key, accepting only that key for the current user; SFTP via internal-sftp.
 */
export class Sshd {
  child: Child | undefined;
  readonly clientKey: string;
  readonly user = userInfo().username;
  private readonly config: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.clientKey = join(dir, 'client_ed25519');
    this.config = join(dir, 'sshd_config');
  }

  static async start(dir: string): Promise<Sshd> {
    mkdirSync(dir, { recursive: true });
    const s = new Sshd(dir, await freePort());
    const hostKey = join(dir, 'host_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', s.clientKey]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${s.clientKey}.pub`), { mode: 0o600 });
    // Privilege separation needs this folder (created by the package's service unit normally).
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    writeFileSync(
      s.config,
      [
        `Port ${s.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        'LogLevel ERROR',
      ].join('\n') + '\n',
    );
    await s.restart();
    return s;
  }

  async restart(): Promise<void> {
    this.child = new Child(SSHD, ['-D', '-e', '-f', this.config]);
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          if (!this.child!.running) throw new Error(`sshd exited: ${this.child!.tail()}`);
          const c = createConnection({ host: '127.0.0.1', port: this.port }, () => {
            c.destroy();
            resolve(true);
          });
          c.on('error', () => resolve(false));
        }),
      { timeout: 10_000, what: 'sshd listening' },
    );
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.child?.exited;
  }

  async stop(): Promise<void> {
    await this.child?.stop(2000);
  }
}
