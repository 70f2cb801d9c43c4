// Entry of the snapshot build process (build-in-child.ts): register the tsx loader (a forked
// process does not inherit the agent's), build the snapshot the parent sends over IPC, then
// wait: after a successful upload the parent asks this process to commit the index update (so
// the agent never holds the 100,000 rows), otherwise it just closes the channel.
import { register } from 'tsx/esm/api';

register();
const { LocalState } = await import('./local-state.ts');
const { buildSnapshot } = await import('./snapshot-builder.ts');
const errorOf = (err) => ({ code: err?.code ?? 'OPS_ERR_BACKUP_BUILD', message: err?.message ?? String(err), retryable: err?.retryable ?? false });
let state;
process.on('message', async (m) => {
  try {
    if (m.build) {
      state = new LocalState(m.build.dbFile);
      process.send({ ok: await buildSnapshot(m.build.input, state) });
    } else if (m.commit) {
      state.commitStaged(m.commit.snapshot, m.commit.gen);
      process.send({ committed: true });
    }
  } catch (err) {
    process.send({ error: errorOf(err) });
  }
});
// The parent closing the channel (done, failed, or the agent died) ends this process.
process.once('disconnect', () => {
  state?.close();
  process.exit(0);
});
process.send({ ready: true });
