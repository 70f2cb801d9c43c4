import { readFileSync } from 'node:fs';
import type { Builtin } from './types.js';

/** Decodes the hex address of /proc/net/tcp{,6}: little-endian per 32-bit word. */
export function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    const b = Buffer.from(hex, 'hex');
    return `${b[3]}.${b[2]}.${b[1]}.${b[0]}`;
  }
  const words = [];
  for (let i = 0; i < 32; i += 8) {
    const w = Buffer.from(hex.slice(i, i + 8), 'hex').reverse().toString('hex');
    words.push(w.slice(0, 4), w.slice(4, 8));
  }
  return words.map((w) => w.replace(/^0+(?=.)/, '')).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** TCP sockets in LISTEN and bound UDP sockets, from /proc/net (no external tools). */
export const listeningPorts: Builtin = async () => {
  const out: Array<{ proto: string; address: string; port: number; uid: number }> = [];
  for (const [proto, file, state] of [['tcp', '/proc/net/tcp', '0A'], ['tcp6', '/proc/net/tcp6', '0A'], ['udp', '/proc/net/udp', '07'], ['udp6', '/proc/net/udp6', '07']] as const) {
    for (const line of read(file).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8 || f[3] !== state) continue;
      const [addr, port] = f[1]!.split(':');
      out.push({ proto, address: decodeAddress(addr!), port: parseInt(port!, 16), uid: Number(f[7]) });
    }
  }
  out.sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  const tcp = out.filter((p) => p.proto.startsWith('tcp')).length;
  return { status: 'ok', summary: `${tcp} tcp listeners, ${out.length - tcp} udp sockets`, data: out };
};
