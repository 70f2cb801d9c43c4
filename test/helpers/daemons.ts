import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { NatsServer } from './nats-server.js';
import { Child, REPO_ROOT } from './process.js';

const BIN = (name: string) => join(REPO_ROOT, 'bin', `${name}.js`);

/** `nats.servers` items for a URL or a comma-separated list of them (a cluster's nodes). */
function serversYaml(natsUrl: string): string {
  return natsUrl
    .split(',')
    .map((u) => JSON.stringify(u.trim()))
    .join(', ');
}

function writeConfig(dir: string, name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/** A running controller child process and what it reported at start. */
export interface ControllerProc {
  child: Child;
  url: string;
  configFile: string;
  /** The bootstrap admin token from `<data_dir>/admin.token` (auth is on, as users run it). */
  token: string;
}

/**
 * Bootstrap tokens by controller URL: opsctl children and api() calls to a controller started
 * here carry its admin token automatically, so existing tests run with auth switched on.
 */
const tokensByUrl = new Map<string, string>();

/** Reads `<data_dir>/admin.token` and remembers it for `url`. */
export function adoptControllerToken(url: string, dataDir: string): string {
  const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  tokensByUrl.set(url.replace(/\/+$/, ''), token);
  return token;
}

/** The bootstrap admin token of a controller started by these helpers. */
export function tokenFor(url: string): string | undefined {
  return tokensByUrl.get(url.replace(/\/+$/, ''));
}

/** `Authorization` header for a controller started here (empty when it has no token). */
export function authHeaders(url: string): Record<string, string> {
  const t = tokenFor(url);
  return t ? { authorization: `Bearer ${t}` } : {};
}

/**
 * opsctl children never read the developer's own ~/.config/opsfleet/credentials: they get
 * their own config home (removed when the test process exits).
 */
let configHome: string | undefined;
function testConfigHome(): string {
  if (!configHome) {
    const dir = mkdtempSync(join(tmpdir(), 'opsfleet-opsctl-home-'));
    configHome = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return configHome;
}

/** Starts the real controller (child process) and waits for its HTTP API. */
export async function startController(o: {
  /** One server, or a comma-separated list (NatsCluster.url): all go into `nats.servers`. */
  natsUrl: string;
  dir: string;
  offlineAfter?: string;
  extraYaml?: string;
  configName?: string;
  natsExtra?: string;
  env?: NodeJS.ProcessEnv;
  /** The rpc_client mapping; default allows the plaintext agents tests use. */
  rpcClient?: string;
  /** More keys inside the http mapping, e.g. `auth: { max_failures: 1000 }` or `tls: {...}`. */
  httpExtra?: string;
  /** `http.listen` (default 127.0.0.1:0); HA tests need the port before start for `ha.advertise_url`. */
  listen?: string;
  /** The data_dir (default `<dir>/controller-data`). */
  dataDir?: string;
  /** How long to wait for the HTTP API (default 60 s; a cluster test shares the cores with three servers). */
  startTimeoutMs?: number;
}): Promise<ControllerProc> {
  // Operator-mode NATS (the default of NatsServer.start): the controller shares the test's
  // NATS authority, connects with its creds and issues agents' user JWTs at enrollment.
  const natsAuth = NatsServer.forUrl(o.natsUrl)?.authority;
  const yaml = [
    `nats: { servers: [${serversYaml(o.natsUrl)}]${o.natsExtra ? `, ${o.natsExtra}` : ''} }`,
    natsAuth ? `nats_auth: { enabled: true, dir: ${JSON.stringify(natsAuth.dir)} }` : '',
    `data_dir: ${o.dataDir ?? join(o.dir, 'controller-data')}`,
    `http: { listen: "${o.listen ?? '127.0.0.1:0'}"${o.httpExtra ? `, ${o.httpExtra}` : ''} }`,
    o.offlineAfter ? `offline_after: ${o.offlineAfter}` : '',
    'log: { level: debug }',
    `rpc_client: ${o.rpcClient ?? '{ insecure: true }'}`,
    o.extraYaml ?? '',
  ].join('\n');
  const configFile = writeConfig(o.dir, o.configName ?? 'controller.yaml', yaml);
  const child = new Child(process.execPath, [BIN('opsfleet-controller'), '--config', configFile], { env: o.env ?? {} });
  const line = await child.waitForLog((l) => l.msg === 'http api listening', o.startTimeoutMs ?? 60_000, 'controller http api');
  const url = `http${line.tls ? 's' : ''}://127.0.0.1:${String(line.port)}`;
  const token = adoptControllerToken(url, o.dataDir ?? join(o.dir, 'controller-data'));
  const proc = { child, url, configFile, token };
  controllersByNats.set(o.natsUrl, proc);
  return proc;
}

/**
 * The controller a test started on each NATS URL: agents started on the same NATS enroll with
 * it by default (docs/identity.md), so the secure path is the tested path.
 */
const controllersByNats = new Map<string, ControllerProc>();

/** Whether startAgent enrolls by default; OPSFLEET_TEST_ENROLL=0 switches back to plaintext agents. */
const ENROLL_BY_DEFAULT = process.env.OPSFLEET_TEST_ENROLL !== '0';

/** Creates an enrollment token through the API (admin token of a controller started here). */
export async function createEnrollToken(url: string, body: { name?: string; tags?: Record<string, string>; ttl?: string; uses?: number; approve?: 'auto' | 'manual' } = {}): Promise<string> {
  const res = await fetch(`${url}/api/v1/enroll-tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(url) }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`create enroll token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { secret: string }).secret;
}

export interface AgentProc {
  child: Child;
  id: string;
  configFile: string;
}

/** Starts the real agent (child process) and waits until it reports started. */
export async function startAgent(o: {
  natsUrl: string;
  dir: string;
  id: string;
  tags?: Record<string, string>;
  heartbeat?: string;
  stateDir?: string;
  rpc?: boolean;
  extraYaml?: string;
  /** Extra keys inside the nats mapping, e.g. `user: u, password: p`. */
  natsExtra?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Enroll with this controller (default: the one started here on the same NATS URL): the
   * agent gets a certificate from the fleet CA and serves gRPC with it (mTLS both ways).
   * `false`: a plaintext agent (a test that does so says why).
   */
  enroll?: ControllerProc | false;
  /** Extra keys inside the rpc mapping (e.g. `allow_shell: true`). */
  rpcExtra?: string;
  /** How long to wait for "agent started" (default 60 s; the browser tests start under load). */
  startTimeoutMs?: number;
}): Promise<AgentProc> {
  const tags = Object.entries(o.tags ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ');
  const ctl = o.enroll === false || o.rpc === false || !ENROLL_BY_DEFAULT ? undefined : (o.enroll ?? controllersByNats.get(o.natsUrl));
  const live = ctl && ctl.child.running ? ctl : undefined;
  const enrollYaml = live ? `enroll: { controller: "${live.url}", token: "${await createEnrollToken(live.url, { ttl: '1h' })}", wait: 30s }` : '';
  const rpcExtra = o.rpcExtra ? `, ${o.rpcExtra}` : '';
  // Operator-mode NATS without enrollment: per-host creds issued here (what `opsfleet-controller
  // nats-creds` does for a hand-installed host), so the agent is still confined to its subjects.
  const nats = NatsServer.forUrl(o.natsUrl);
  let natsExtra = o.natsExtra ?? '';
  if (nats && !live && !/creds_file|user:|token:/.test(natsExtra)) {
    const { file } = await nats.agentCreds(o.id, { file: join(o.dir, `nats-${o.id}.creds`) });
    natsExtra = [natsExtra, `creds_file: ${JSON.stringify(file)}`].filter(Boolean).join(', ');
  }
  const yaml = [
    `host: { id: ${o.id}, tags: { ${tags} } }`,
    `nats: { servers: [${serversYaml(o.natsUrl)}]${natsExtra ? `, ${natsExtra}` : ''} }`,
    `state_dir: ${o.stateDir ?? join(o.dir, `agent-${o.id}`)}`,
    o.rpc === false ? '' : live ? `rpc: { listen: "127.0.0.1:0", identity: true${rpcExtra} }` : `rpc: { listen: "127.0.0.1:0", insecure: true${rpcExtra} }`,
    enrollYaml,
    `heartbeat_interval: ${o.heartbeat ?? '500ms'}`,
    'log: { level: debug }',
    o.extraYaml ?? '',
  ].join('\n');
  const configFile = writeConfig(o.dir, `agent-${o.id}.yaml`, yaml);
  const child = new Child(process.execPath, [BIN('opsfleet-agent'), '--config', configFile], { env: o.env ?? {} });
  await child.waitForLog((l) => l.msg === 'agent started', o.startTimeoutMs ?? 60_000, `agent ${o.id} started`);
  return { child, id: o.id, configFile };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** For opsctl: the token of the controller it is pointed at (--controller or OPSFLEET_CONTROLLER). */
function opsctlEnv(args: string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: testConfigHome(), ...env };
  if ('OPSFLEET_TOKEN' in env) return out;
  const i = args.indexOf('--controller');
  const url = i >= 0 ? args[i + 1] : (env.OPSFLEET_CONTROLLER ?? process.env.OPSFLEET_CONTROLLER);
  const token = url ? tokenFor(url) : undefined;
  return token ? { ...out, OPSFLEET_TOKEN: token } : out;
}

/** Runs one of the project's commands to completion (opsctl with the token of its controller). */
export function runCommand(name: 'opsctl' | 'opsfleet-agent' | 'opsfleet-controller', args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<RunResult> {
  const fullEnv = name === 'opsctl' ? opsctlEnv(args, env) : env;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN(name), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...fullEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${name} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** GET a controller API path and parse JSON. */
export async function api<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: authHeaders(url) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Creates an API token with the controller's bootstrap admin token; returns its secret. */
export async function createToken(url: string, body: { name: string; role: string; ttl?: string; playbooks?: string[]; target?: string }): Promise<string> {
  const res = await fetch(`${url}/api/v1/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(url) }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`create token ${body.name}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { secret: string }).secret;
}
