import type { ServerWritableStream } from '@grpc/grpc-js';
import { CommandServiceService, type CommandServiceServer, type RunPlaybookRequest, type RunPlaybookResponse } from '../../shared/gen/opsfleet/v1/command.js';
import type { Logger } from '../../shared/logger.js';
import { runPlaybook, type CommandPolicy } from './playbook-runner.js';

/** gRPC CommandService on the agent: each RunPlaybook call runs with its own abort signal. */
export function commandService(policy: CommandPolicy, logger: Logger): { definition: typeof CommandServiceService; implementation: CommandServiceServer; running: () => number } {
  const log = logger.child({ component: 'commands' });
  let running = 0;
  const implementation: CommandServiceServer = {
    runPlaybook: (call: ServerWritableStream<RunPlaybookRequest, RunPlaybookResponse>) => {
      const ac = new AbortController();
      // Controller cancelled (opsctl Ctrl-C) or the deadline passed: kill what runs.
      call.on('cancelled', () => ac.abort());
      running++;
      runPlaybook(call.request, policy, (ev) => {
        if (!call.cancelled) call.write(ev);
      }, ac.signal, log)
        .catch((err: unknown) => log.error({ err, runId: call.request.runId }, 'playbook run failed'))
        .finally(() => {
          running--;
          if (!call.cancelled) call.end();
        });
    },
  };
  return { definition: CommandServiceService, implementation, running: () => running };
}
