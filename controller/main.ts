import { controllerConfigSchema } from '../shared/config/controller.js';
import { runDaemonCli } from '../shared/daemon-cli.js';
import { Controller } from './controller.js';
import { registerNatsCommands } from './natsauth/nats-config-cli.js';
import { registerSelfBackupCommands } from './selfbackup/cli.js';

await runDaemonCli({
  command: 'opsfleet-controller',
  description: 'opsfleet controller: ingest events from NATS JetStream into SQLite, track hosts, serve the API',
  defaultConfig: '/etc/opsfleet/controller.yaml',
  schema: controllerConfigSchema,
  create: (cfg, logger, ctx) => new Controller(cfg, logger, ctx),
  level: (cfg) => cfg.log.level,
  graceMs: (cfg) => cfg.shutdown_grace,
  extraCommands: (program, done) => {
    registerNatsCommands(program, done, '/etc/opsfleet/controller.yaml');
    registerSelfBackupCommands(program, done, '/etc/opsfleet/controller.yaml');
  },
});
