import { execFile } from 'node:child_process';
import type { Builtin } from './types.js';

/** Failed systemd units (`systemctl list-units --state=failed`); reports unavailable where there is no systemd. */
export const systemdFailed: Builtin = (_args, signal) =>
  new Promise((resolve) => {
    execFile('systemctl', ['list-units', '--state=failed', '--no-legend', '--plain', '--no-pager'], { timeout: 10_000, signal }, (err, stdout) => {
      if (err && ((err as NodeJS.ErrnoException).code === 'ENOENT' || /System has not been booted with systemd|Failed to connect to bus/.test(String(err.message) + stdout))) {
        resolve({ status: 'ok', summary: 'systemd not available on this host', data: { available: false, units: [] } });
        return;
      }
      if (err) {
        resolve({ status: 'failed', summary: `systemctl failed: ${err.message.split('\n')[0]}`, data: { available: true, units: [] } });
        return;
      }
      const units = stdout
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          const [unit, load, active, sub, ...desc] = l.trim().split(/\s+/);
          return { unit, load, active, sub, description: desc.join(' ') };
        });
      resolve({ status: units.length > 0 ? 'failed' : 'ok', summary: `${units.length} failed units`, data: { available: true, units } });
    });
  });
