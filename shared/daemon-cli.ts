import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import type { z } from 'zod';
import { loadConfigFile } from './config/load.js';
import { errorLine, OpsError, printConfigError, problemLines } from './errors.js';
import { createRootLogger, type Logger } from './logger.js';
import { within } from './lifecycle.js';
import { processFaults } from './process-faults.js';
import { RUNTIME, VERSION } from './version.js';

export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGHUP: re-read what can change without a restart (e.g. the controller's tasks_dir). */
  reload?(): Promise<void>;
}

export interface DaemonSpec<S extends z.ZodType> {
  /** Command name, e.g. opsfleet-agent. */
  command: string;
  description: string;
  defaultConfig: string;
  schema: S;
  /** `configFile`: the absolute path the config was read from (the controller's backups carry it). */
  create(cfg: z.output<S>, logger: Logger, ctx: { configFile: string }): Daemon;
  level(cfg: z.output<S>): string;
  graceMs(cfg: z.output<S>): number;
  /** One line per distinct warning/error per this many ms, with a count (see shared/log-rate-limit.ts). */
  repeatInterval?(cfg: z.output<S>): number | undefined;
  /** More subcommands (e.g. the agent's `restore`); an action passes its exit code to `done`. */
  extraCommands?(program: Command, done: (exitCode: Promise<number>) => void): void;
}

/** Exit codes: 0 clean stop, 1 failure, 2 bad configuration or usage. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/**
 * The command line of a daemon: `CMD [--config FILE]` runs it, `CMD validate FILE` checks a
 * config. Signals are installed here and only here: the first SIGTERM/SIGINT stops cleanly
 * (bounded by the configured grace), a second one forces exit 1.
 */
export async function runDaemonCli<S extends z.ZodType>(spec: DaemonSpec<S>, argv = process.argv): Promise<void> {
  const program = new Command(spec.command)
    .description(spec.description)
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'config file', spec.defaultConfig)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let action: Promise<number> | undefined;
  program.action((opts: { config: string }) => {
    action = run(spec, opts.config);
  });
  program
    .command('validate <file>')
    .description('check a config file: exit 0 when valid, 2 with FILE:LINE:COL lines when not')
    .action((file: string) => {
      try {
        loadConfigFile(file, spec.schema);
        process.stdout.write(`${file}: ok\n`);
        action = Promise.resolve(EXIT.OK);
      } catch (err) {
        action = Promise.resolve(printConfigError(err));
      }
    });

  spec.extraCommands?.(program, (p) => {
    action = p;
  });

  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.USAGE);
    throw err;
  }
  const code = await (action ?? Promise.resolve(EXIT.OK));
  if (code !== EXIT.OK || !isRunning) process.exit(code);
}

let isRunning = false;

async function run<S extends z.ZodType>(spec: DaemonSpec<S>, file: string): Promise<number> {
  let cfg: z.output<S>;
  try {
    cfg = loadConfigFile(file, spec.schema);
  } catch (err) {
    return printConfigError(err);
  }
  const repeatInterval = spec.repeatInterval?.(cfg);
  const logger = createRootLogger({ name: spec.command, level: spec.level(cfg) as 'info', ...(repeatInterval ? { repeatInterval } : {}) });
  logger.info({ version: VERSION, runtime: RUNTIME, config: file }, `${spec.command} starting`);
  const daemon = spec.create(cfg, logger, { configFile: resolve(file) });
  let stopping = false;

  const shutdown = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: forcing exit');
      process.exit(EXIT.FAILURE);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const grace = spec.graceMs(cfg);
    void within(daemon.stop(), grace)
      .then((clean) => {
        if (clean) {
          logger.info({ exitCode: 0 }, `${spec.command} stopped cleanly`);
          process.exit(EXIT.OK);
        }
        logger.error({ exitCode: 1, graceMs: grace }, `${spec.command} did not stop within the grace period; forced exit`);
        process.exit(EXIT.FAILURE);
      })
      .catch((err: unknown) => {
        logger.error({ err, exitCode: 1 }, `${spec.command} stop failed`);
        process.exit(EXIT.FAILURE);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    // The main file is validated only (components apply it at start: a change needs a
    // restart); what the daemon can reload live (tasks_dir) is reloaded.
    try {
      loadConfigFile(file, spec.schema);
      logger.info({ file }, 'config file is valid; restart to apply changes to it');
    } catch (err) {
      logger.error({ file, problems: problemLines(err) }, 'config file rejected; running config kept');
    }
    daemon.reload?.().catch((err: unknown) => logger.error({ err }, 'reload failed'));
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(EXIT.FAILURE);
  });
  process.on('unhandledRejection', (err) => {
    processFaults.unhandledRejections++;
    logger.error({ err, count: processFaults.unhandledRejections }, 'unhandled promise rejection');
  });

  try {
    await daemon.start();
    isRunning = true;
    return EXIT.OK;
  } catch (err) {
    logger.fatal({ err, code: (err as OpsError).code }, `${spec.command} failed to start: ${errorLine(err)}`);
    process.stderr.write(`${spec.command}: ${errorLine(err)}\n`);
    await within(daemon.stop(), 2000).catch(() => undefined);
    return err instanceof OpsError && err.code.startsWith('OPS_ERR_CONFIG') ? EXIT.USAGE : EXIT.FAILURE;
  }
}
