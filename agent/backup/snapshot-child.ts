// Entry of the snapshot build process (build-in-child.ts): build the snapshot the parent sends
// over IPC, then wait: after a successful upload the parent asks this process to commit the
// index update (so the agent never holds the 100,000 rows), otherwise it just closes the
// channel. A TypeScript module like the rest: compiled, it runs as plain JavaScript; in
// development the parent forks it with tsx's loader.
import { LocalState, type LocalSnapshot } from './local-state.js';
import { buildSnapshot, type BuildInput } from './snapshot-builder.js';

type Request = { build?: { input: BuildInput; dbFile: string }; commit?: { snapshot: LocalSnapshot; gen: number } };

const errorOf = (err: unknown) => {
  const e = err as { code?: unknown; message?: unknown; retryable?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'OPS_ERR_BACKUP_BUILD',
    message: typeof e?.message === 'string' ? e.message : String(err),
    retryable: e?.retryable === true,
  };
};
const send = (m: unknown) => process.send!(m);

let state: LocalState | undefined;
process.on('message', async (m: Request) => {
  try {
    if (m.build) {
      state = new LocalState(m.build.dbFile);
      send({ ok: await buildSnapshot(m.build.input, state) });
    } else if (m.commit) {
      if (!state) throw new Error('commit before build');
      state.commitStaged(m.commit.snapshot, m.commit.gen);
      send({ committed: true });
    }
  } catch (err) {
    send({ error: errorOf(err) });
  }
});
// The parent closing the channel (done, failed, or the agent died) ends this process.
process.once('disconnect', () => {
  state?.close();
  process.exit(0);
});
send({ ready: true });
