import type { SimulatorOptions } from './options.js';

/**
 * Real (or injected) time plus an offset the control API can advance, so tests expire tokens, codes and
 * windows without sleeping. Protocol times (CreateTime, windows) are whole seconds, as WeChat counts them.
 */
export class SimClock {
  private offsetMs = 0;
  private readonly base: () => number;

  constructor(source?: SimulatorOptions['clock']) {
    if (!source) this.base = Date.now;
    else if (typeof source === 'function') this.base = source;
    else this.base = () => Number(source.now());
  }

  now(): number {
    return this.base() + this.offsetMs;
  }

  nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  get offset(): number {
    return this.offsetMs;
  }

  reset(): void {
    this.offsetMs = 0;
  }
}
