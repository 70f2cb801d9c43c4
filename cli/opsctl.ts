import { Command, CommanderError } from 'commander';
import { errorLine, OpsError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { registerAlertCommands } from './alerts-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerChecksCommands } from './checks-commands.js';
import { ControllerClient } from './client.js';
import { registerHostCommands } from './host-commands.js';
import { controllerUrl, escapeControls, installTtyEscaping } from './terminal.js';
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
  const line = `opsctl: ${errorLine(err)}`;
  process.stderr.write(`${process.stderr.isTTY ? escapeControls(line) : line}\n`);
  process.exit(err instanceof OpsError && err.code === 'OPS_ERR_USAGE' ? 2 : 1);
}
