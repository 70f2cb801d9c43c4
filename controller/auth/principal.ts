import type { Role } from './roles.js';

/**
 * Who is calling: a token's name and role (and its optional scopes), or a service principal
 * (`task:NAME`, `policy:NAME`) when the controller acts on its own schedule.
 */
export interface Principal {
  name: string;
  role: Role;
  /** Only these playbooks may be run (absent: any the role allows). */
  playbooks?: readonly string[];
  /** Only hosts matching this target expression may be acted on (absent: all). */
  target?: string;
  expiresMs?: number | null;
}
