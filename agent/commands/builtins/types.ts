/** A built-in inspection: runs in the agent's own code, returns structured data plus a one-line summary. */
export interface BuiltinResult {
  status: 'ok' | 'failed';
  summary: string;
  data: unknown;
}

export type Builtin = (args: Record<string, unknown>, signal: AbortSignal) => Promise<BuiltinResult>;
