import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { waitFor } from '../../test/helpers/wait.js';
import { readProcStat } from '../proc/proc.js';
import { ProcessGroupRecord } from './process-groups.js';

const log = pino({ level: 'silent' });

describe('ProcessGroupRecord', () => {
  const dir = tempDir('opsfleet-pgroups-');
  const children: number[] = [];
  after(() => {
    for (const pid of children) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    dir.cleanup();
  });

  it('kills a recorded group at the next start, but not a group whose leader PID now names another process', async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 60 & sleep 60'], { detached: true, stdio: 'ignore' });
    const pid = child.pid!;
    children.push(pid);
    const start = readProcStat(pid)!.startTicks;
    const file = join(dir.path, 'running-steps.json');

    // Same PID, other start time: a reused PID, not our group.
    writeFileSync(file, JSON.stringify([{ pgid: pid, startTicks: start + 1, what: 'x' }]));
    assert.deepEqual(new ProcessGroupRecord(dir.path).reapLeftovers(log), []);
    assert.ok(readProcStat(pid), 'left alone');

    const rec = new ProcessGroupRecord(dir.path);
    rec.add(pid, 'sleep 60 & sleep 60');
    const killed = new ProcessGroupRecord(dir.path).reapLeftovers(log);
    assert.deepEqual(killed.map((g) => g.pgid), [pid]);
    await waitFor(() => readProcStat(pid) === undefined || readProcStat(pid)!.state === 'Z', { timeout: 5000, what: 'group killed' });
  });
});
