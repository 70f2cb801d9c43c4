/** Expands `{host}` and `{name}` in a target prefix and trims slashes. */
export function expandPrefix(prefix: string, ctx: { host: string; set: string }): string {
  return prefix.replaceAll('{host}', ctx.host).replaceAll('{name}', ctx.set).replace(/^\/+|\/+$/g, '');
}

export function tmpSuffix(): string {
  return `.part-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
}
