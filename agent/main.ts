import { agentConfigSchema } from '../shared/config/agent.js';
import { runDaemonCli } from '../shared/daemon-cli.js';
import { Agent } from './agent.js';
import { registerRestoreCommand } from './backup/restore-cli.js';
import { registerEnrollCommand } from './identity/enroll-cli.js';

await runDaemonCli({
  command: 'opsfleet-agent',
  description: 'opsfleet agent: heartbeat, outbox to NATS JetStream, gRPC commands',
  defaultConfig: '/etc/opsfleet/agent.yaml',
  schema: agentConfigSchema,
  create: (cfg, logger) => new Agent(cfg, logger),
  level: (cfg) => cfg.log.level,
  graceMs: (cfg) => cfg.shutdown_grace + 2000,
  repeatInterval: (cfg) => cfg.log.repeat_interval,
  extraCommands: (program, done) => {
    registerRestoreCommand(program, done, '/etc/opsfleet/agent.yaml');
    registerEnrollCommand(program, done, '/etc/opsfleet/agent.yaml');
  },
});
