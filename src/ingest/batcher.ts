// Group commit (PERF-NOTES.md): requests that arrive within a few milliseconds of each other share one
// transaction, so the per-commit cost (an fsync, a round trip per statement) is paid once per batch instead
// of once per push. Every caller waits for the batch that holds its item, and learns that batch's fate.

export interface BatcherOptions<I, O> {
  /** Runs one batch; returns one result per item, in order. A throw fails every item of the batch. */
  run(items: I[]): Promise<O[]>;
  /** a batch starts as soon as this many items wait */
  maxBatch: number;
  /** …or when the oldest waiting item has waited this long */
  maxWaitMs: number;
  /** batches in flight at once (1 on PGlite: one connection) */
  concurrency: number;
  /**
   * items that may wait for a batch at once; one more is refused at once (BatcherFullError). When the database
   * stalls, every waiting request holds its memory: without a bound, a stall under load grows until it crashes.
   */
  maxWaiting?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(err: unknown): void;
}

export class BatcherFullError extends Error {
  override readonly name = 'BatcherFullError';
  constructor(max: number) {
    super(`${max} items are already waiting for a batch`);
  }
}

export class BatcherClosedError extends Error {
  override readonly name = 'BatcherClosedError';
  constructor() {
    super('the batcher is closed');
  }
}

export class Batcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: unknown = null;
  /** the oldest waiting item has waited maxWaitMs: go as soon as a slot frees */
  private due = false;
  private closed = false;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly opts: BatcherOptions<I, O>) {
    if (opts.maxBatch < 1 || opts.concurrency < 1)
      throw new RangeError('maxBatch and concurrency must be ≥ 1');
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  /** items waiting for a batch plus batches running, for tests and metrics */
  get pending(): { waiting: number; running: number } {
    return { waiting: this.queue.length, running: this.inFlight.size };
  }

  submit(item: I): Promise<O> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    const max = this.opts.maxWaiting;
    if (max !== undefined && this.queue.length >= max) return Promise.reject(new BatcherFullError(max));
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.opts.maxBatch) this.due = true;
      else if (this.timer === null && !this.due) this.armTimer();
      this.pump();
    });
  }

  /** Starts everything waiting now and resolves once no batch is running. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0) {
      if (this.queue.length > 0) this.due = true;
      this.pump();
      await Promise.race(this.inFlight);
    }
  }

  /** Refuses new items, then lets every accepted one finish (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private armTimer(): void {
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.due = true;
      this.pump();
    }, this.opts.maxWaitMs);
  }

  private pump(): void {
    while (this.due && this.queue.length > 0 && this.inFlight.size < this.opts.concurrency) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      if (this.timer !== null) {
        this.clearTimer(this.timer);
        this.timer = null;
      }
      // What a full batch left behind waits again (at most maxWaitMs), so a free slot does not take a crumb.
      this.due = this.queue.length >= this.opts.maxBatch;
      if (this.queue.length > 0 && !this.due) this.armTimer();
      const running = this.runBatch(batch).finally(() => {
        this.inFlight.delete(running);
        this.pump();
      });
      this.inFlight.add(running);
    }
  }

  private async runBatch(batch: Waiting<I, O>[]): Promise<void> {
    let results: O[];
    try {
      results = await this.opts.run(batch.map((w) => w.item));
      if (results.length !== batch.length) throw new Error('batch returned a result count unlike its size');
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    for (const [i, w] of batch.entries()) w.resolve(results[i] as O);
  }
}
