import type { CheckConfig, CheckType } from '../../shared/config/health.js';
import { commandCheck } from './command.js';
import { diskCheck } from './disk.js';
import { fileCheck } from './file.js';
import { httpCheck } from './http.js';
import { processCheck } from './process.js';
import { tcpCheck } from './tcp.js';
import type { CheckKind, ProbeResult } from './types.js';

/** Every check type, by its config `type`: adding a type is one file plus one line here. */
export const CHECK_KINDS: { [T in CheckType]: CheckKind<T> } = {
  http: httpCheck,
  tcp: tcpCheck,
  process: processCheck,
  command: commandCheck,
  disk: diskCheck,
  file: fileCheck,
};

/** Runs one probe of any check type. */
export function probe(cfg: CheckConfig, signal: AbortSignal): Promise<ProbeResult> {
  const kind = CHECK_KINDS[cfg.type] as CheckKind;
  return kind.probe(cfg as never, signal);
}

export type { ProbeResult, ProbeStatus } from './types.js';
