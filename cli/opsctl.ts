import { Command, CommanderError } from 'commander';
import { errorLine } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { registerAlertCommands } from './alerts-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerChecksCommands } from './checks-commands.js';
import { ControllerClient } from './client.js';
import { registerHostCommands } from './host-commands.js';
import { registerLogsCommands } from './logs-commands.js';
import { registerAutomationCommands } from './automation-commands.js';
import { registerRunCommands } from './run-commands.js';

interface GlobalOpts {
  controller?: string;
}

function client(cmd: Command): ControllerClient {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  return new ControllerClient(opts.controller ?? process.env.OPSFLEET_CONTROLLER ?? 'http://127.0.0.1:8080');
}

const program = new Command('opsctl')
  .description('operate the opsfleet fleet through the controller API')
  .version(VERSION, '-V, --version')
  .option('--controller <url>', 'controller URL (env OPSFLEET_CONTROLLER, default http://127.0.0.1:8080)')
  .exitOverride()
  .showHelpAfterError();

registerHostCommands(program, client);
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
  process.stderr.write(`opsctl: ${errorLine(err)}\n`);
  process.exit(1);
}
