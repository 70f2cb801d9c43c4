import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export type Role = 'viewer' | 'operator' | 'admin';
export interface SessionInfo {
  loggedIn: true;
  name: string;
  role: Role;
  csrf: string;
  expiresAt: string;
}

const ORDER: Role[] = ['viewer', 'operator', 'admin'];

/** Whether the session's role may do what a route needs (controller/auth/roles.ts decides; this only hides buttons). */
export function can(s: SessionInfo | undefined, need: Role): boolean {
  return s !== undefined && ORDER.indexOf(s.role) >= ORDER.indexOf(need);
}

export const Session = createContext<SessionInfo | undefined>(undefined);
export const useSession = () => useContext(Session);
