/**
 * Host facts: the inventory an agent gathers at start and on refresh (Salt grains, Ansible
 * facts), sent as a `facts` event (JSON) and answered by the RefreshFacts RPC. `facts` holds
 * flat scalar keys (documented in docs/facts.md) that target expressions match; the lists
 * (disks, filesystems, interfaces) are for people.
 */
export interface FactsDoc {
  /** Agent clock when gathering finished (ms). */
  gatheredMs: number;
  /** How long gathering took (ms), so a slow host is visible. */
  tookMs: number;
  facts: Record<string, string | number | boolean>;
  disks: Array<{ device: string; name: string; type: string; vendor: string; sizeBytes: number }>;
  filesystems: Array<{ fs: string; type: string; mount: string; sizeBytes: number; usedBytes: number }>;
  interfaces: Array<{ name: string; mac: string; ip4: string[]; ip6: string[]; speedMbps: number | null; type: string; virtual: boolean; operstate: string }>;
  /** What could not be read (a probe that failed or timed out), by probe name. */
  errors: Record<string, string>;
}

/** Every flat fact key, with what it holds: the one list docs/facts.md is checked against. */
export const FACT_KEYS: Readonly<Record<string, string>> = {
  os: 'distribution id, lower case (debian, ubuntu, rhel, alpine...): os-release ID',
  os_family: 'family from os-release ID_LIKE (debian, rhel fedora...), or the id itself',
  distro: 'distribution name (Debian GNU/Linux)',
  distro_version: 'release (12, 22.04)',
  codename: 'release codename (bookworm)',
  platform: 'kernel platform (linux)',
  kernel: 'kernel release (6.1.0-18-amd64)',
  arch: 'CPU architecture as Node names it (x64, arm64)',
  virtual: 'virtualization: physical, kvm, qemu, vmware, xen, microsoft, oracle, amazon, docker, lxc, podman, container...',
  virtual_role: 'guest or host (physical machines are host)',
  cpu_model: 'CPU brand string (manufacturer + brand)',
  cpu_vendor: 'CPU vendor (GenuineIntel, AuthenticAMD, ARM)',
  cpu_cores: 'logical CPUs',
  cpu_physical_cores: 'physical cores',
  cpu_sockets: 'CPU packages (processors)',
  cpu_mhz: 'nominal clock in MHz (0 when the kernel does not say)',
  mem_total_bytes: 'physical memory',
  swap_total_bytes: 'swap space',
  manufacturer: 'system manufacturer (DMI)',
  model: 'system model (DMI)',
  serial: 'system serial number (DMI; empty when unreadable)',
  machine_id: '/etc/machine-id',
  hostname: 'host name',
  fqdn: 'fully qualified host name',
  timezone: 'time zone name (Etc/UTC)',
  boot_time: 'boot time, ISO 8601',
  disk_count: 'physical disks',
  disk_total_bytes: 'sum of the physical disks',
  fs_root_type: 'file system type of /',
  ipv4: 'first non-loopback IPv4 address',
  default_iface: 'interface of the default route',
};

/** Scalar facts only: what a target expression may compare. Anything else is dropped. */
export function flatFacts(facts: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(facts)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  }
  return out;
}
