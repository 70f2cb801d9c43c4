import { join } from 'node:path';
import { Child } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';

const MAIN = join(new URL('.', import.meta.url).pathname, 's3rver-main.cjs');

/** s3rver in a child process on a random loopback port, with bucket "backups". */
export class S3Server {
  child: Child | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<S3Server> {
    const s = new S3Server(await freePort(), dir);
    await s.restart();
    return s;
  }

  /** Starts it (again) on the same port and data folder. */
  async restart(): Promise<void> {
    this.child = new Child(process.execPath, [MAIN, String(this.port), this.dir]);
    await this.child.waitForLog((l) => l.msg === 's3rver ready', 15_000, 's3rver ready');
  }

  /** Kills it (SIGKILL: the target is simply gone). */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.child?.exited;
  }

  async stop(): Promise<void> {
    await this.child?.stop(2000);
  }
}
