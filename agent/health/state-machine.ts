import type { ProbeStatus } from './types.js';

export type CheckState = 'unknown' | 'up' | 'down';

export interface Transition {
  from: CheckState;
  to: CheckState;
  /** Consecutive results that made the transition (failures for down, successes for up). */
  streak: number;
}

/**
 * `unknown → up ⇄ down` with consecutive-count thresholds. From unknown the first success is
 * enough (nothing was ever wrong) but going down always takes `failures` in a row, so one
 * blip at start does not page anyone. `warn` counts as a success: the service answers.
 */
export class CheckStateMachine {
  state: CheckState = 'unknown';
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;

  constructor(
    private readonly failures: number,
    private readonly successes: number,
  ) {}

  observe(status: ProbeStatus): Transition | undefined {
    const from = this.state;
    if (status === 'fail') {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      if (from !== 'down' && this.consecutiveFailures >= this.failures) {
        this.state = 'down';
        return { from, to: 'down', streak: this.consecutiveFailures };
      }
    } else {
      this.consecutiveSuccesses++;
      this.consecutiveFailures = 0;
      const need = from === 'down' ? this.successes : 1;
      if (from !== 'up' && this.consecutiveSuccesses >= need) {
        this.state = 'up';
        return { from, to: 'up', streak: this.consecutiveSuccesses };
      }
    }
    return undefined;
  }
}
