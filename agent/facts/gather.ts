import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { FactsDoc } from '../../shared/facts/facts.js';

/** The parts of systeminformation used here (its own typings are loaded only at gather time). */
interface Si {
  cpu(): Promise<{ manufacturer: string; brand: string; vendor: string; speed: number; cores: number; physicalCores: number; processors: number }>;
  mem(): Promise<{ total: number; swaptotal: number }>;
  osInfo(): Promise<{ platform: string; distro: string; release: string; codename: string; kernel: string; arch: string; hostname: string; fqdn: string; serial: string }>;
  system(): Promise<{ manufacturer: string; model: string; serial: string; uuid: string; virtual: boolean; virtualHost?: string }>;
  diskLayout(): Promise<Array<{ device: string; name: string; type: string; vendor: string; size: number }>>;
  fsSize(): Promise<Array<{ fs: string; type: string; mount: string; size: number; used: number }>>;
}

const PROBE_TIMEOUT_MS = 30_000;

/**
 * Loads systeminformation for one gathering and drops it from the require cache afterwards, so
 * the agent does not keep its ~8 MB of modules for a job done at start and on refresh. It is
 * loaded through createRequire (not a static import) so neither the agent's start nor its
 * bundle pays for it.
 */
function loadSi(): { si: Si; release: () => void } {
  const require = createRequire(import.meta.url);
  const before = new Set(Object.keys(require.cache));
  const si = require('systeminformation') as Si;
  return {
    si,
    release: () => {
      for (const k of Object.keys(require.cache)) if (!before.has(k)) delete require.cache[k];
    },
  };
}

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) fields.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return fields;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5_000, encoding: 'utf8' }, (err, stdout) => resolve(err && !stdout ? '' : stdout.trim()));
  });
}

const DMI_VIRT: Array<[RegExp, string]> = [
  [/kvm/i, 'kvm'],
  [/qemu/i, 'qemu'],
  [/vmware/i, 'vmware'],
  [/virtualbox|innotek/i, 'oracle'],
  [/xen/i, 'xen'],
  [/microsoft corporation|hyper-v/i, 'microsoft'],
  [/amazon ec2/i, 'amazon'],
  [/google compute engine/i, 'google'],
  [/bochs/i, 'bochs'],
];

/**
 * Virtualization the way `systemd-detect-virt` names it (what Salt's `virtual` grain uses), with
 * file-based fallbacks where systemd is absent (containers, Alpine): container markers first
 * (a container on a VM is a container to the workloads in it), then DMI vendor strings.
 */
export async function detectVirtual(siSystem?: { model: string; virtual: boolean; virtualHost?: string }): Promise<string> {
  const out = await run('systemd-detect-virt', []);
  if (out) return out === 'none' ? 'physical' : out;
  if (existsSync('/.dockerenv')) return 'docker';
  if (existsSync('/run/.containerenv')) return 'podman';
  const env1 = readTrim('/proc/1/environ');
  const m = /(?:^|\0)container=([^\0]+)/.exec(env1);
  if (m) return m[1]!;
  const dmi = `${readTrim('/sys/class/dmi/id/sys_vendor')} ${readTrim('/sys/class/dmi/id/product_name')}`;
  for (const [re, name] of DMI_VIRT) if (re.test(dmi)) return name;
  if (siSystem?.model === 'Docker Container') return 'docker';
  if (siSystem?.virtual) return (siSystem.virtualHost ?? 'vm').toLowerCase() || 'vm';
  return /\bhypervisor\b/.test(readTrim('/proc/cpuinfo')) ? 'vm' : 'physical';
}

/** The interface of the default IPv4 route, from /proc/net/route (no `ip` needed). */
function defaultIface(): string {
  for (const line of readTrim('/proc/net/route').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[7] === '00000000') return f[0] ?? '';
  }
  return '';
}

/**
 * Interfaces from Node and /sys, not systeminformation: its networkInterfaces() probes DHCP and
 * more per interface and took 11 s on the build machine; everything shown here is a file read.
 */
function interfaces(): FactsDoc['interfaces'] {
  const out: FactsDoc['interfaces'] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs || addrs.every((a) => a.internal)) continue;
    const speed = Number(readTrim(`/sys/class/net/${name}/speed`));
    out.push({
      name,
      mac: addrs[0]?.mac ?? '',
      ip4: addrs.filter((a) => a.family === 'IPv4').map((a) => a.address),
      ip6: addrs.filter((a) => a.family === 'IPv6').map((a) => a.address),
      speedMbps: Number.isFinite(speed) && speed > 0 ? speed : null,
      type: existsSync(`/sys/class/net/${name}/wireless`) ? 'wireless' : existsSync(`/sys/class/net/${name}/device`) ? 'wired' : 'virtual',
      virtual: !existsSync(`/sys/class/net/${name}/device`),
      operstate: readTrim(`/sys/class/net/${name}/operstate`) || 'unknown',
    });
  }
  return out;
}

async function probe<T>(name: string, errors: Record<string, string>, fn: () => Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    errors[name] = (err as Error).message;
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Gathers the host's facts. The probes run one after another (some spawn lsblk, df, dmidecode):
 * gathering is rare, and a burst of parallel children would show on a small host's CPU graph.
 * A failed probe leaves its facts empty and is named in `errors`; gathering itself never throws.
 */
export async function gatherFacts(): Promise<FactsDoc> {
  const started = Date.now();
  const errors: Record<string, string> = {};
  const { si, release } = loadSi();
  try {
    const cpu = await probe('cpu', errors, () => si.cpu(), undefined);
    const mem = await probe('mem', errors, () => si.mem(), undefined);
    const osi = await probe('os', errors, () => si.osInfo(), undefined);
    const sys = await probe('system', errors, () => si.system(), undefined);
    const disks = await probe('disks', errors, () => si.diskLayout(), []);
    const fss = await probe('filesystems', errors, () => si.fsSize(), []);
    const virtual = await detectVirtual(sys);
    const rel = parseOsRelease(readTrim('/etc/os-release'));
    const id = (rel.get('ID') ?? '').toLowerCase();
    const ifaces = interfaces();
    const cpus = os.cpus();
    const bootMs = Date.now() - os.uptime() * 1000;
    const clean = (s: string | undefined) => (s && s !== '-' ? s.trim() : '');
    const facts: FactsDoc['facts'] = {
      os: id || os.platform(),
      os_family: (rel.get('ID_LIKE') ?? id).toLowerCase(),
      distro: clean(osi?.distro) || rel.get('NAME') || '',
      distro_version: clean(osi?.release) || rel.get('VERSION_ID') || '',
      codename: clean(osi?.codename) || rel.get('VERSION_CODENAME') || '',
      platform: os.platform(),
      kernel: os.release(),
      arch: os.arch(),
      virtual,
      virtual_role: virtual === 'physical' ? 'host' : 'guest',
      cpu_model: cpu ? `${cpu.manufacturer} ${cpu.brand}`.trim() : (cpus[0]?.model.trim() ?? ''),
      cpu_vendor: cpu?.vendor ?? '',
      cpu_cores: cpu?.cores || cpus.length,
      cpu_physical_cores: cpu?.physicalCores || cpus.length,
      cpu_sockets: cpu?.processors || 1,
      cpu_mhz: Math.round((cpu?.speed ?? 0) * 1000),
      mem_total_bytes: mem?.total || os.totalmem(),
      swap_total_bytes: mem?.swaptotal ?? 0,
      manufacturer: clean(sys?.manufacturer),
      model: clean(sys?.model),
      serial: clean(sys?.serial) || readTrim('/sys/class/dmi/id/product_serial'),
      machine_id: readTrim('/etc/machine-id'),
      hostname: os.hostname(),
      fqdn: clean(osi?.fqdn) || os.hostname(),
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      boot_time: new Date(Math.round(bootMs / 1000) * 1000).toISOString(),
      disk_count: disks.length,
      disk_total_bytes: disks.reduce((a, d) => a + (d.size || 0), 0),
      fs_root_type: fss.find((f) => f.mount === '/')?.type ?? '',
      ipv4: ifaces.flatMap((i) => i.ip4)[0] ?? '',
      default_iface: defaultIface(),
    };
    return {
      gatheredMs: Date.now(),
      tookMs: Date.now() - started,
      facts,
      disks: disks.map((d) => ({ device: d.device, name: d.name, type: d.type, vendor: d.vendor, sizeBytes: d.size || 0 })),
      filesystems: fss.map((f) => ({ fs: f.fs, type: f.type, mount: f.mount, sizeBytes: f.size || 0, usedBytes: f.used || 0 })),
      interfaces: ifaces,
      errors,
    };
  } finally {
    release();
  }
}
