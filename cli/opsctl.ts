import Table from 'cli-table3';
import { Command, CommanderError } from 'commander';
import { errorLine, OpsError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import type { HostView } from '../controller/api/wire.js';
import { registerAlertCommands } from './alerts-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerChecksCommands } from './checks-commands.js';
import { ControllerClient } from './client.js';
import { controllerUrl, escapeControls, installTtyEscaping } from './terminal.js';
import { ago, bytes, tagsText, uptime } from './format.js';
import { registerLogsCommands } from './logs-commands.js';
import { registerAutomationCommands } from './automation-commands.js';
import { registerRunCommands } from './run-commands.js';

interface GlobalOpts {
  controller?: string;
}

function client(cmd: Command): ControllerClient {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  if (opts.controller !== undefined) return new ControllerClient(controllerUrl(opts.controller, '--controller'));
  if (process.env.OPSFLEET_CONTROLLER) return new ControllerClient(controllerUrl(process.env.OPSFLEET_CONTROLLER, 'OPSFLEET_CONTROLLER'));
  return new ControllerClient('http://127.0.0.1:8080');
}

// Remote bytes (playbook output, hostnames, alert texts) never reach a terminal raw.
installTtyEscaping(process.argv);
// `opsctl ... | head` closes the pipe early: that is the reader's choice, not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

const program = new Command('opsctl')
  .description('operate the opsfleet fleet through the controller API')
  .version(VERSION, '-V, --version')
  .option('--controller <url>', 'controller URL (env OPSFLEET_CONTROLLER, default http://127.0.0.1:8080)')
  .exitOverride()
  .showHelpAfterError();

program
  .command('hosts')
  .description('list hosts and whether they are online')
  .option('--json', 'print a JSON array')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const hosts = await client(cmd).get<HostView[]>('api/v1/hosts');
    if (opts.json) return print(JSON.stringify(hosts, null, 2));
    if (hosts.length === 0) return print('no hosts have reported yet');
    const t = new Table({ head: ['ID', 'STATUS', 'LAST SEEN', 'HOSTNAME', 'OS', 'IP', 'VERSION', 'TAGS'], style: { head: [], border: [] } });
    for (const h of hosts) {
      t.push([h.id, h.status, ago(h.lastSeen), h.hostname, h.distro || h.os, h.ipAddresses[0] ?? '', h.agentVersion, tagsText(h.tags)]);
    }
    print(t.toString());
    const offline = hosts.filter((h) => h.status !== 'online').length;
    print(`${hosts.length} host(s), ${hosts.length - offline} online, ${offline} offline`);
  });

const host = program.command('host').description('one host');
host
  .command('status <id>')
  .description("the agent's live status, fetched by the controller over gRPC")
  .option('--json', 'print JSON')
  .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
    const c = client(cmd);
    const st = await c.get<{
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
    }>(`api/v1/hosts/${encodeURIComponent(id)}/status`);
    if (opts.json) return print(JSON.stringify(st, null, 2));
    print(`host:      ${st.host} (${st.rpcEndpoint})`);
    print(`agent:     ${st.agentVersion}, instance ${st.instanceId}, up ${uptime(st.uptimeS)}`);
    print(`nats:      ${st.natsConnected ? 'connected' : 'NOT connected'}`);
    print(`outbox:    ${st.outboxDepth} waiting, ${st.outboxEvicted} evicted, last seq ${st.lastSeq}`);
    const t = new Table({ head: ['COMPONENT', 'STATE', 'DETAIL'], style: { head: [], border: [] } });
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
      ['agent', h.agentVersion], ['rpc', h.rpcEndpoint || '(none)'], ['tags', tagsText(h.tags)],
    ];
    for (const [k, v] of rows) print(`${k.padEnd(10)} ${v}`);
  });

registerLogsCommands(program, client);
registerChecksCommands(program, client);
registerBackupCommands(program, client);

registerAlertCommands(program, client);

registerRunCommands(program, client);

registerAutomationCommands(program, client);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const line = `opsctl: ${errorLine(err)}`;
  process.stderr.write(`${process.stderr.isTTY ? escapeControls(line) : line}\n`);
  process.exit(err instanceof OpsError && err.code === 'OPS_ERR_USAGE' ? 2 : 1);
}
