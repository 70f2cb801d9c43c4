import { compileTarget } from '../dispatch/target.js';
import { toTargetHost, type HostRow } from '../store/hosts-store.js';
import { AuthError } from './auth-error.js';
import type { Principal } from './principal.js';

/**
 * A token's target scope applied to one request's target: the hosts acted on are those that
 * match both. Composing the expressions (instead of filtering afterwards) keeps dry runs,
 * "no host matches" and the stored run target all telling the truth.
 */
export function scopedTarget(p: Principal, target: string): string {
  return p.target ? `(${p.target}) and (${target})` : target;
}

/** Refuses a host outside the token's target scope (403, naming the scope). */
export function requireHostInScope(p: Principal, h: HostRow): void {
  if (!p.target) return;
  if (!compileTarget(p.target)(toTargetHost(h))) throw new AuthError(403, 'OPS_ERR_AUTH_SCOPE', `token "${p.name}" is scoped to hosts matching "${p.target}"; host "${h.id}" is outside it`);
}

/** Refuses a playbook the token may not run: outside its list, or (below admin) one with shell steps. */
export function requirePlaybookAllowed(p: Principal, name: string, hasShellSteps: boolean): void {
  if (p.playbooks && !p.playbooks.includes(name)) throw new AuthError(403, 'OPS_ERR_AUTH_SCOPE', `token "${p.name}" may run only playbooks ${p.playbooks.join(', ')}; not "${name}"`);
  if (hasShellSteps && p.role !== 'admin') throw new AuthError(403, 'OPS_ERR_AUTH_FORBIDDEN', `playbook "${name}" has shell (run) steps: running it needs admin, token "${p.name}" is ${p.role}`);
}
