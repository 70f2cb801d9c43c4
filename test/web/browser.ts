import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';
import { REPO_ROOT } from '../helpers/process.js';

/** Debian's chromium (scripts/test.sh installs it); never a browser downloaded by playwright. */
export const CHROMIUM = process.env.OPSFLEET_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the dashboard's files into dist/web (what the controller started from the sources serves). */
export function buildDashboard(): void {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-ui.mjs')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`scripts/build-ui.mjs failed (${r.status}): ${r.stderr}${r.stdout}`);
  if (!existsSync(join(REPO_ROOT, 'dist', 'web', 'app.js'))) throw new Error('scripts/build-ui.mjs wrote no dist/web/app.js');
}

/**
 * A headless chromium child (its own fresh profile in a temp dir, made by playwright) and a
 * connection to it. `stop()` closes it and then ends the process by its PID if it is still there.
 */
export async function startBrowser(): Promise<{ browser: Browser; pid: number; stop: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)`);
  const server: BrowserServer = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
  const pid = server.process().pid!;
  const browser = await chromium.connect(server.wsEndpoint(), { timeout: 60_000 });
  return {
    browser,
    pid,
    stop: async () => {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
      try {
        process.kill(pid, 0);
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}
