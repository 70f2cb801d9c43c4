import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Inventory } from '../../shared/gen/opsfleet/v1/events.js';
import { VERSION } from '../../shared/version.js';

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)". */
export function readDistro(text = readTrim('/etc/os-release')): string {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) fields.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return fields.get('PRETTY_NAME') ?? [fields.get('NAME'), fields.get('VERSION')].filter(Boolean).join(' ');
}

/** Non-loopback addresses of every interface, IPv4 first. */
export function ipAddresses(): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      (a.family === 'IPv4' ? v4 : v6).push(a.address);
    }
  }
  return [...v4, ...v6];
}

/**
 * Static facts about the host, collected once at start (they do not change while the agent
 * runs); only uptime is refreshed per heartbeat.
 */
export function collectInventory(o: { hostId: string; tags: Record<string, string>; rpcEndpoint: string; rpcTls: boolean }): Inventory {
  const cpus = os.cpus();
  return {
    hostId: o.hostId,
    hostname: os.hostname(),
    os: os.platform(),
    distro: readDistro(),
    kernel: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? '',
    cpuCores: cpus.length,
    memoryTotalBytes: os.totalmem(),
    ipAddresses: ipAddresses(),
    tags: { ...o.tags },
    agentVersion: VERSION,
    bootId: readTrim('/proc/sys/kernel/random/boot_id'),
    uptimeS: os.uptime(),
    rpcEndpoint: o.rpcEndpoint,
    rpcTls: o.rpcTls,
  };
}
