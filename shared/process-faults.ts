/**
 * Faults the process-level handlers catch (installed once in shared/daemon-cli.ts). Exposed by
 * the controller's /healthz and /metrics so a test and an operator can see that none happen:
 * each one is a promise nobody owned, i.e. a bug.
 */
export const processFaults = { unhandledRejections: 0 };
