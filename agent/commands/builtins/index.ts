import { certExpiry } from './cert-expiry.js';
import { diskUsage } from './disk-usage.js';
import { listeningPorts } from './listening-ports.js';
import { load } from './load.js';
import { memory } from './memory.js';
import { systemdFailed } from './systemd-failed.js';
import type { BuiltinName } from '../../../shared/config/playbooks.js';
import type { Builtin } from './types.js';

export type { Builtin, BuiltinResult } from './types.js';

/** Built-in inspections by name; the controller's playbook schema accepts exactly these names. */
export const BUILTINS: Readonly<Record<BuiltinName, Builtin>> & Readonly<Record<string, Builtin | undefined>> = Object.freeze({
  disk_usage: diskUsage,
  memory,
  load,
  listening_ports: listeningPorts,
  cert_expiry: certExpiry,
  systemd_failed: systemdFailed,
});
