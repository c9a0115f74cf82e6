import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, BatcherClosedError, BatcherFullError } from '../../../src/ingest/batcher.js';

/** A run function whose batches the test completes by hand. */
function manualRun() {
  const batches: { items: number[]; resolve(out: string[]): void; reject(err: unknown): void }[] = [];
  const run = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({ items, resolve, reject });
    });
  const answer = (i: number) => batches[i]?.resolve((batches[i]?.items ?? []).map((n) => `r${n}`));
  return { batches, run, answer };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Batcher', () => {
  it('waits maxWaitMs for company, then runs one batch and answers each item with its own result', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 10, maxWaitMs: 5, concurrency: 1 });
    const results = [1, 2, 3].map((n) => b.submit(n));
    await vi.advanceTimersByTimeAsync(4);
    expect(m.batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(m.batches.map((x) => x.items)).toEqual([[1, 2, 3]]);
    m.answer(0);
    expect(await Promise.all(results)).toEqual(['r1', 'r2', 'r3']);
  });

  it('a full batch goes at once, without waiting for the timer', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 2, maxWaitMs: 1000, concurrency: 4 });
    void b.submit(1);
    void b.submit(2);
    expect(m.batches.map((x) => x.items)).toEqual([[1, 2]]);
  });

  it('keeps at most `concurrency` batches running; what arrives meanwhile goes together next', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 100, maxWaitMs: 2, concurrency: 1 });
    const first = b.submit(1);
    await vi.advanceTimersByTimeAsync(2);
    const later = [2, 3, 4].map((n) => b.submit(n));
    await vi.advanceTimersByTimeAsync(50);
    expect(m.batches).toHaveLength(1);
    expect(b.pending).toEqual({ waiting: 3, running: 1 });
    m.answer(0);
    await first;
    await vi.advanceTimersByTimeAsync(0);
    expect(m.batches.map((x) => x.items)).toEqual([[1], [2, 3, 4]]);
    m.answer(1);
    expect(await Promise.all(later)).toEqual(['r2', 'r3', 'r4']);
  });

  it('refuses an item at once when maxWaiting items already wait (a stalled run holds them)', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 100, maxWaitMs: 2, concurrency: 1, maxWaiting: 2 });
    const first = b.submit(1);
    await vi.advanceTimersByTimeAsync(2); // running, stalled
    const waiting = [b.submit(2), b.submit(3)];
    await vi.advanceTimersByTimeAsync(2); // due, but no slot
    await expect(b.submit(4)).rejects.toBeInstanceOf(BatcherFullError);
    expect(b.pending).toEqual({ waiting: 2, running: 1 });
    m.answer(0);
    await first;
    await vi.advanceTimersByTimeAsync(0);
    m.answer(1);
    expect(await Promise.all(waiting)).toEqual(['r2', 'r3']);
    // room again
    const again = b.submit(5);
    await vi.advanceTimersByTimeAsync(2);
    m.answer(2);
    expect(await again).toBe('r5');
  });

  it('splits a long queue into batches of maxBatch', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 2, maxWaitMs: 2, concurrency: 1 });
    const all = [1, 2, 3, 4, 5].map((n) => b.submit(n));
    m.answer(0);
    await vi.advanceTimersByTimeAsync(0);
    m.answer(1);
    await vi.advanceTimersByTimeAsync(2);
    m.answer(2);
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(m.batches.map((x) => x.items)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('a failed batch fails every item in it, and only those', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 2, maxWaitMs: 2, concurrency: 2 });
    const a = [b.submit(1), b.submit(2)];
    const c = [b.submit(3), b.submit(4)];
    m.batches[0]?.reject(new Error('db down'));
    m.answer(1);
    for (const p of a) await expect(p).rejects.toThrow('db down');
    expect(await Promise.all(c)).toEqual(['r3', 'r4']);
  });

  it('a result list of the wrong length fails the batch', async () => {
    const b = new Batcher({ run: async () => ['only one'], maxBatch: 2, maxWaitMs: 2, concurrency: 1 });
    const both = [b.submit(1), b.submit(2)];
    for (const p of both) await expect(p).rejects.toThrow(/result count/);
  });

  it('flush runs what waits now; close lets accepted items finish and refuses new ones', async () => {
    const m = manualRun();
    const b = new Batcher({ run: m.run, maxBatch: 100, maxWaitMs: 10_000, concurrency: 1 });
    const accepted = b.submit(1);
    const closing = b.close();
    expect(m.batches.map((x) => x.items)).toEqual([[1]]);
    await expect(b.submit(2)).rejects.toBeInstanceOf(BatcherClosedError);
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false);
    m.answer(0);
    await closing;
    expect(await accepted).toBe('r1');
  });
});
