import { readFileSync, statfsSync } from 'node:fs';
import type { Builtin } from './types.js';

const SKIP_FS = new Set(['proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'pstore', 'bpf', 'tracefs', 'debugfs', 'mqueue', 'hugetlbfs', 'configfs', 'fusectl', 'autofs', 'binfmt_misc', 'nsfs', 'rpc_pipefs', 'efivarfs', 'squashfs', 'overlay', 'tmpfs', 'ramfs']);

/** Usage of every real mounted filesystem (statfs), like `df -P` plus inodes. */
export const diskUsage: Builtin = async (args) => {
  const only = Array.isArray(args.mounts) ? new Set(args.mounts.map(String)) : undefined;
  const seen = new Set<string>();
  const rows = [];
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [device, mount, fs] = line.split(' ');
    if (!device || !mount || !fs) continue;
    const mp = mount.replace(/\\040/g, ' ');
    if (only ? !only.has(mp) : SKIP_FS.has(fs) || seen.has(device)) continue;
    seen.add(device);
    try {
      const s = statfsSync(mp);
      const size = s.blocks * s.bsize;
      const avail = s.bavail * s.bsize;
      const used = (s.blocks - s.bfree) * s.bsize;
      rows.push({
        mount: mp,
        fs,
        device,
        size_bytes: size,
        used_bytes: used,
        avail_bytes: avail,
        used_percent: size > 0 ? Math.round((used / (used + avail)) * 1000) / 10 : 0,
        inodes_total: s.files,
        inodes_used_percent: s.files > 0 ? Math.round(((s.files - s.ffree) / s.files) * 1000) / 10 : 0,
      });
    } catch {
      /* unreadable mount (permissions, stale NFS): skip it */
    }
  }
  const worst = rows.reduce((m, r) => Math.max(m, r.used_percent), 0);
  return { status: 'ok', summary: `${rows.length} filesystems, fullest ${worst}% used`, data: rows };
};
