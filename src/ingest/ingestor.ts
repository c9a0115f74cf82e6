import { isDatabaseUnavailable } from '../db/errors.js';
import type { Deps } from '../deps.js';
import { Batcher } from './batcher.js';
import { type PushToStore, type StoreOutcome, storePushes } from './store.js';

export type IngestOutcome = StoreOutcome | { result: 'failed'; error: unknown };

export interface IngestTuning {
  maxBatch: number;
  maxWaitMs: number;
  concurrency: number;
  maxWaiting: number;
}

/**
 * A 2 ms window is small next to WeChat's 5 s and next to one commit on a busy machine; 256 pushes bound a
 * batch's statement size. Several batches in flight let one commit while the next collects (more did not
 * help in a local check: 8 measured like 4); PGlite has one connection, so one batch at a time there.
 * INGEST_QUEUE_MAX bounds the pushes waiting behind them (a stalled database answers 503 beyond it).
 */
export function defaultTuning(deps: Deps): IngestTuning {
  const concurrency =
    deps.db.kind === 'pglite' ? 1 : Math.max(1, Math.min(4, Math.floor(deps.config.dbPoolMax / 2)));
  return { maxBatch: 256, maxWaitMs: 2, concurrency, maxWaiting: deps.config.ingestQueueMax };
}

const ingestors = new WeakMap<Deps, Batcher<PushToStore, IngestOutcome>>();

/** The group-commit queue of this process (one per deps, so each test app has its own). */
export function ingestorFor(
  deps: Deps,
  tuning: IngestTuning = defaultTuning(deps),
): Batcher<PushToStore, IngestOutcome> {
  let batcher = ingestors.get(deps);
  if (!batcher) {
    batcher = new Batcher<PushToStore, IngestOutcome>({ ...tuning, run: (items) => storeBatch(deps, items) });
    ingestors.set(deps, batcher);
  }
  return batcher;
}

/** Shutdown: pushes already accepted are stored (and answered) before the database closes. */
export async function closeIngest(deps: Deps): Promise<void> {
  await ingestors.get(deps)?.close();
}

/**
 * A batch that fails for any reason but an unreachable database is retried push by push, so one push that
 * the database refuses cannot fail every batch it lands in; an unreachable database fails the batch (503).
 */
async function storeBatch(deps: Deps, items: PushToStore[]): Promise<IngestOutcome[]> {
  try {
    return await storePushes(deps, items);
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw err;
    if (items.length === 1) return [{ result: 'failed', error: err }];
    deps.log.warn({ err, size: items.length }, 'push batch failed; storing its pushes one by one');
  }
  const outcomes: IngestOutcome[] = [];
  for (const item of items) {
    try {
      outcomes.push(...(await storePushes(deps, [item])));
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw error;
      outcomes.push({ result: 'failed', error });
    }
  }
  return outcomes;
}
