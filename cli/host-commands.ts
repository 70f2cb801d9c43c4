import type { Command } from 'commander';
import type { FactsView, HostSummaryView, HostView } from '../controller/api/wire.js';
import { ago, bytes, type ClientOf, print, table, tagsText, uptime } from './format.js';

/** What `opsctl host status` shows: the agent's live status, fetched by the controller over gRPC. */
interface HostStatusView {
  host: string;
  rpcEndpoint: string;
  agentVersion: string;
  instanceId: string;
  uptimeS: number;
  outboxDepth: number;
  outboxEvicted: number;
  lastSeq: number;
  natsConnected: boolean;
  startedAt: string;
  components: Array<{ name: string; state: string; detail: string }>;
}

/** A host identity as GET /api/v1/identities lists it (controller/pki). */
interface IdentityView {
  hostId: string;
  state: string;
  keyFingerprint: string;
  tags: Record<string, string>;
  token: string;
  version: string;
  requestedAt: string;
  enrolledAt: string | null;
  certNotAfter: string | null;
  removedAt: string | null;
}

/** "enrolled (cert 5d)" / "pending" / "removed" / "-" for a host that reports without an identity. */
function identityText(state: string | undefined, notAfter: string | null | undefined): string {
  if (!state || state === 'none') return '-';
  if (state !== 'enrolled' || !notAfter) return state;
  const left = Date.parse(notAfter) - Date.now();
  if (left <= 0) return 'enrolled (cert EXPIRED)';
  const h = left / 3_600_000;
  return `enrolled (cert ${h >= 48 ? `${Math.floor(h / 24)}d` : h >= 1 ? `${Math.floor(h)}h` : `${Math.max(1, Math.floor(left / 60_000))}m`})`;
}

/** `opsctl hosts` (+ pending, accept, remove) and `opsctl host status|show`. */
export function registerHostCommands(program: Command, client: ClientOf): void {
  const hostsCmd = program
    .command('hosts')
    .description('list hosts and whether they are online')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      if (opts.json) return print(JSON.stringify(await client(cmd).get<HostView[]>('api/v1/hosts'), null, 2));
      // The table needs no inventory: summary pages (id order) keep each answer small at 10,000 hosts.
      const hosts: HostSummaryView[] = [];
      for (let after: string | null = ''; after !== null; ) {
        const page: { hosts: HostSummaryView[]; next: string | null } = await client(cmd).get(`api/v1/hosts?view=summary&limit=2000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        hosts.push(...page.hosts);
        after = page.next;
      }
      if (hosts.length === 0) return print('no hosts have reported yet');
      const t = table(['ID', 'STATUS', 'LAST SEEN', 'HOSTNAME', 'OS', 'IP', 'VERSION', 'IDENTITY', 'TAGS']);
      for (const h of hosts) {
        t.push([h.id, h.status, ago(h.lastSeen), h.hostname, h.distro || h.os, h.ipAddresses[0] ?? '', h.agentVersion, identityText(h.identity, h.certNotAfter), tagsText(h.tags)]);
      }
      print(t.toString());
      const offline = hosts.filter((h) => h.status !== 'online').length;
      print(`${hosts.length} host(s), ${hosts.length - offline} online, ${offline} offline`);
    });

  hostsCmd
    .command('pending')
    .description('hosts that enrolled with a manual-approval token and wait for opsctl hosts accept')
    .option('--json', 'print a JSON array')
    .action(async (_opts: unknown, cmd: Command) => {
      // `hosts` has its own --json, which commander hands to the parent: read both.
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      const list = await client(cmd).get<IdentityView[]>('api/v1/identities?state=pending');
      if (opts.json) return print(JSON.stringify(list, null, 2));
      if (list.length === 0) return print('no host waits for acceptance');
      const t = table(['ID', 'REQUESTED', 'TOKEN', 'KEY', 'VERSION', 'TAGS']);
      for (const i of list) t.push([i.hostId, ago(i.requestedAt), i.token, `${i.keyFingerprint.slice(0, 16)}…`, i.version, tagsText(i.tags)]);
      print(t.toString());
      print(`accept one with: opsctl hosts accept ID (compare KEY with the host's: opsfleet-agent enroll --json prints it)`);
    });

  hostsCmd
    .command('accept <id>')
    .description('accept a pending host: it gets its certificate at its next poll')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const i = await client(cmd).send<IdentityView>('POST', `api/v1/identities/${encodeURIComponent(id)}/accept`);
      print(`host "${i.hostId}" accepted (key ${i.keyFingerprint.slice(0, 16)}…)`);
    });

  hostsCmd
    .command('remove <id>')
    .description("revoke a host's identity at once: gRPC and renewal refused, its events rejected, its NATS user revoked; it may enroll again with a new token")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const i = await client(cmd).send<IdentityView>('DELETE', `api/v1/identities/${encodeURIComponent(id)}`);
      print(`host "${i.hostId}" removed: its certificate and NATS credential are no longer accepted`);
    });

  const host = program.command('host').description('one host');
  host
    .command('status <id>')
    .description("the agent's live status, fetched by the controller over gRPC")
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const st = await c.get<HostStatusView>(`api/v1/hosts/${encodeURIComponent(id)}/status`);
      if (opts.json) return print(JSON.stringify(st, null, 2));
      print(`host:      ${st.host} (${st.rpcEndpoint})`);
      print(`agent:     ${st.agentVersion}, instance ${st.instanceId}, up ${uptime(st.uptimeS)}`);
      print(`nats:      ${st.natsConnected ? 'connected' : 'NOT connected'}`);
      print(`outbox:    ${st.outboxDepth} waiting, ${st.outboxEvicted} evicted, last seq ${st.lastSeq}`);
      const t = table(['COMPONENT', 'STATE', 'DETAIL']);
      for (const comp of st.components) t.push([comp.name, comp.state, comp.detail]);
      print(t.toString());
    });

  host
    .command('show <id>')
    .description('inventory of one host as the controller knows it')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const h = await client(cmd).get<HostView>(`api/v1/hosts/${encodeURIComponent(id)}`);
      if (opts.json) return print(JSON.stringify(h, null, 2));
      const rows: Array<[string, string]> = [
        ['id', h.id], ['status', `${h.status} since ${h.statusSince}`], ['last seen', `${h.lastSeen} (${ago(h.lastSeen)})`],
        ['hostname', h.hostname], ['os', `${h.distro} (${h.os} ${h.kernel}, ${h.arch})`], ['cpu', `${h.cpuCores} x ${h.cpuModel}`],
        ['memory', bytes(h.memoryTotalBytes)], ['ip', h.ipAddresses.join(', ')], ['uptime', uptime(h.uptimeS)],
        ['agent', h.agentVersion], ['rpc', h.rpcEndpoint || '(none)'], ['identity', identityText(h.identity, h.certNotAfter) + (h.certNotAfter ? `, expires ${h.certNotAfter}` : '')], ['tags', tagsText(h.tags)],
      ];
      for (const [k, v] of rows) print(`${k.padEnd(10)} ${v}`);
    });

  host
    .command('facts <id>')
    .description("the host's facts (inventory gathered by the agent with systeminformation); keys usable in --target, see docs/facts.md")
    .option('--refresh', 'ask the agent to gather them now (over gRPC; takes seconds: it runs lsblk, df...)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { refresh?: boolean; json?: boolean }, cmd: Command) => {
      const path = `api/v1/hosts/${encodeURIComponent(id)}/facts`;
      // The controller waits up to 120 s for the agent; opsctl waits a little longer than that.
      const f = opts.refresh ? await client(cmd).withTimeout(130_000).send<FactsView>('POST', `${path}/refresh`, {}) : await client(cmd).get<FactsView>(path);
      if (opts.json) return print(JSON.stringify(f, null, 2));
      print(`host ${f.host}, gathered ${f.gatheredAt} (${ago(f.gatheredAt)}) in ${f.tookMs} ms`);
      const keys = Object.keys(f.facts).sort();
      const w = Math.max(...keys.map((k) => k.length));
      for (const k of keys) {
        const v = f.facts[k]!;
        print(`${k.padEnd(w)}  ${typeof v === 'number' && k.endsWith('_bytes') ? `${bytes(v)} (${v})` : String(v)}`);
      }
      if (f.filesystems.length) {
        const t = table(['FILESYSTEM', 'TYPE', 'MOUNT', 'SIZE', 'USED']);
        for (const x of f.filesystems) t.push([x.fs, x.type, x.mount, bytes(x.sizeBytes), bytes(x.usedBytes)]);
        print(t.toString());
      }
      if (f.disks.length) {
        const t = table(['DISK', 'NAME', 'TYPE', 'SIZE']);
        for (const x of f.disks) t.push([x.device, x.name, x.type, bytes(x.sizeBytes)]);
        print(t.toString());
      }
      if (f.interfaces.length) {
        const t = table(['INTERFACE', 'STATE', 'MAC', 'IPV4', 'SPEED']);
        for (const x of f.interfaces) t.push([x.name, x.operstate, x.mac, x.ip4.join(','), x.speedMbps ? `${x.speedMbps} Mb/s` : '']);
        print(t.toString());
      }
      const failed = Object.entries(f.errors);
      if (failed.length) print(`not gathered: ${failed.map(([k, v]) => `${k} (${v})`).join('; ')}`);
    });
}
