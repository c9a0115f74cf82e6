/**
 * A background job: started by main.ts when RUN_WORKERS is on. `runOnce` does one unit of work and is what
 * tests call (they never sleep for timing); `stop` stops taking work and finishes what is in flight by `deadline`.
 */
export interface BackgroundJob {
  readonly name: string;
  start(): void;
  stop(deadline: number): Promise<void>;
  runOnce(): Promise<unknown>;
}

/** A job that runs `tick` every `intervalMs` (and when woken), never overlapping itself. */
export function intervalJob(
  name: string,
  intervalMs: number,
  tick: () => Promise<unknown>,
  onError: (err: unknown) => void,
): BackgroundJob & { wake(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  const run = async () => {
    if (running || stopped) return;
    running = tick().catch(onError);
    try {
      await running;
    } finally {
      running = undefined;
      if (!stopped) schedule();
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(run, intervalMs);
    timer.unref?.();
  };
  return {
    name,
    runOnce: tick,
    start() {
      stopped = false;
      void run();
    },
    wake() {
      if (!stopped && !running) {
        clearTimeout(timer);
        void run();
      }
    },
    async stop(deadline: number) {
      stopped = true;
      clearTimeout(timer);
      if (running) {
        await Promise.race([running, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      }
    },
  };
}
