import type { Mentions } from './types.js';

/** The union of several notifications' @mentions (a digest mentions everyone its parts did). */
export function mergeMentions(parts: ReadonlyArray<Mentions | undefined>): Mentions | undefined {
  const got = parts.filter((p): p is Mentions => p !== undefined);
  if (got.length === 0) return undefined;
  const m: Mentions = { mobiles: [...new Set(got.flatMap((p) => p.mobiles))], user_ids: [...new Set(got.flatMap((p) => p.user_ids))], all: got.some((p) => p.all) };
  return m.all || m.mobiles.length || m.user_ids.length ? m : undefined;
}
