import { isIP } from 'node:net';
import { OpsError } from '../errors.js';

export interface SweepTarget {
  host: string;
  port: number;
}

/** Bound on one sweep: a /16 on a few ports is already a lot for a connectivity check. */
export const MAX_SWEEP_TARGETS = 262_144;

function badInput(message: string): OpsError {
  return new OpsError('OPS_ERR_SWEEP_INPUT', message);
}

/** "22,80,8000-8010" → sorted unique ports. */
export function parsePorts(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw badInput(`ports: "${part}" is not a port or a range like 8000-8010`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > 65535 || a > b) throw badInput(`ports: "${part}" is outside 1-65535 or reversed`);
    for (let p = a; p <= b; p++) out.add(p);
  }
  return [...out].sort((x, y) => x - y);
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Expands an IPv4 CIDR; hosts only (no network/broadcast) for prefixes shorter than /31. */
export function expandCidr(cidr: string): string[] {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!ip || isIP(ip) !== 4 || !Number.isInteger(bits) || bits < 8 || bits > 32) throw badInput(`targets: "${cidr}" is not an IPv4 CIDR between /8 and /32`);
  const size = 2 ** (32 - bits);
  const base = Math.floor(ipv4ToInt(ip) / size) * size;
  if (size > MAX_SWEEP_TARGETS) throw badInput(`targets: ${cidr} has ${size} addresses, more than ${MAX_SWEEP_TARGETS}`);
  const out: string[] = [];
  const [first, last] = size <= 2 ? [0, size - 1] : [1, size - 2];
  for (let i = first; i <= last; i++) out.push(intToIpv4(base + i));
  return out;
}

/**
 * "10.0.0.0/24,db-1:5432,[::1]:22,web-2" with ports "22,80" → every host:port to dial. A target
 * with its own port is dialled on that port only; the others on every `ports` entry.
 */
export function parseTargets(targetsText: string, portsText = ''): SweepTarget[] {
  const ports = portsText.trim() ? parsePorts(portsText) : [];
  const out: SweepTarget[] = [];
  const seen = new Set<string>();
  const add = (host: string, port: number) => {
    const key = `${host}|${port}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ host, port });
    if (out.length > MAX_SWEEP_TARGETS) throw badInput(`more than ${MAX_SWEEP_TARGETS} host:port pairs; sweep in parts`);
  };
  const items = targetsText.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw badInput('targets: none given (like 10.0.0.0/24,db-1:5432)');
  for (const item of items) {
    let host = item;
    let port: number | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(item);
    if (v6) {
      host = v6[1]!;
      port = v6[2] === undefined ? undefined : Number(v6[2]);
    } else if (item.includes(':') && isIP(item) !== 6) {
      const i = item.lastIndexOf(':');
      host = item.slice(0, i);
      port = Number(item.slice(i + 1));
    }
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw badInput(`targets: "${item}" has a bad port`);
    if (!host || !/^[A-Za-z0-9.:_/-]+$/.test(host)) throw badInput(`targets: "${item}" is not a host, IP, CIDR or host:port`);
    const hosts = host.includes('/') ? expandCidr(host) : [host];
    const usePorts = port !== undefined ? [port] : ports;
    if (usePorts.length === 0) throw badInput(`targets: "${item}" has no port; give --ports or write host:port`);
    for (const h of hosts) for (const p of usePorts) add(h, p);
  }
  return out;
}

/** Orders results for display: hosts by address (IPv4 numerically), then port. */
export function compareTargets(a: SweepTarget, b: SweepTarget): number {
  if (a.host !== b.host) {
    const a4 = isIP(a.host) === 4;
    const b4 = isIP(b.host) === 4;
    if (a4 && b4) return ipv4ToInt(a.host) - ipv4ToInt(b.host);
    if (a4 !== b4) return a4 ? -1 : 1;
    return a.host < b.host ? -1 : 1;
  }
  return a.port - b.port;
}
