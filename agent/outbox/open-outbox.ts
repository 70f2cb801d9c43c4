import { openStateDir, renewInstanceId, type StateDir } from '../state/state-dir.js';
import { OutboxStore, type OutboxLimits } from './outbox-store.js';

export interface OpenedOutbox {
  stateDir: StateDir;
  outbox: OutboxStore;
  /** The instance id given up because the outbox was new, reset or corrupt while instance.json stayed. */
  renewedFrom?: string;
}

/**
 * Opens the state dir's identity and the outbox together, because the seq counter lives in the
 * outbox and the instance id in instance.json: an event id is `<host>:<instance>:<seq>`, so a
 * lost or truncated outbox.db under a kept instance.json would count seqs from 1 again and every
 * new event would repeat an id the controller already stored (and be dropped as a duplicate).
 * The outbox records the instance id it counts for; when it does not match, a new id is made.
 */
export function openOutboxWithIdentity(stateDirPath: string, hostId: string, limits: OutboxLimits, bootId?: string): OpenedOutbox {
  let stateDir = bootId === undefined ? openStateDir(stateDirPath) : openStateDir(stateDirPath, bootId);
  const outbox = new OutboxStore(stateDirPath, { hostId, instanceId: stateDir.instanceId }, limits);
  if (stateDir.madeNow || !outbox.seqsMayRepeat(stateDir.instanceId)) return { stateDir, outbox };
  const renewedFrom = stateDir.instanceId;
  stateDir = bootId === undefined ? renewInstanceId(stateDir) : renewInstanceId(stateDir, bootId);
  outbox.bindInstance(stateDir.instanceId);
  return { stateDir, outbox, renewedFrom };
}
