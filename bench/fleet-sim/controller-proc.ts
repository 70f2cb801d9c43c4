/**
 * The real controller as a child process for the fleet-scale bench. Unlike the test helper, it
 * logs at `info` and keeps only a tail of its output: at 10,000 hosts the full log of a run is
 * more than the bench should hold in memory or parse on every poll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adoptControllerToken } from '../../test/helpers/daemons.js';
import { REPO_ROOT } from '../../test/helpers/process.js';

export class ControllerProc {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly token: string,
    readonly dataDir: string,
    readonly exited: Promise<void>,
    private readonly tailLines: string[],
  ) {}

  get pid(): number {
    return this.proc.pid!;
  }

  /** `env`: extra environment of the controller process. */
  static async start(dir: string, yaml: string, timeoutMs = 60_000, env: Record<string, string> = {}): Promise<ControllerProc> {
    const dataDir = join(dir, 'controller-data');
    const cfg = join(dir, 'controller.yaml');
    writeFileSync(cfg, `data_dir: ${dataDir}\n${yaml}`);
    // FLEET_SCALE_CONTROLLER_NODE_ARGS: node flags for the controller only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    const nodeArgs = process.env.FLEET_SCALE_CONTROLLER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const proc = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, 'bin/opsfleet-controller.js'), '--config', cfg], { cwd: REPO_ROOT, env: { ...process.env, OPSFLEET_RUNTIME: process.env.OPSFLEET_RUNTIME ?? 'tsx', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error(`controller did not listen within ${timeoutMs} ms\n${tail.join('\n')}`)), timeoutMs);
      void exited.then(() => reject(new Error(`controller exited\n${tail.join('\n')}`)));
      const onLine = (line: string) => {
        tail.push(line);
        if (tail.length > 200) tail.shift();
        if (line.includes('"http api listening"')) {
          clearTimeout(t);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      };
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => tail.push(d));
    });
    const url = `http://127.0.0.1:${port}`;
    return new ControllerProc(proc, url, adoptControllerToken(url, dataDir), dataDir, exited, tail);
  }

  tail(): string {
    return this.tailLines.join('\n');
  }

  async stop(graceMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}
