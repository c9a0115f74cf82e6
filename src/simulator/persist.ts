import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SimClock } from './clock.js';
import type { Media, SimMiniProgram, SimUser } from './records.js';
import type { SimState } from './state.js';

/**
 * Optional persistence of the simulator's memory to one JSON file, so a restarted sandbox still knows the
 * grants, tokens and tickets kefu-relay stored (else every restart would end in 61023 and a re-authorization).
 * Inspection history is trimmed; fault injection is not kept.
 */

const VERSION = 1;
const KEEP_PUSHES = 300;
const KEEP_CALLS = 500;

type Persisted = ReturnType<typeof snapshot>;

export function snapshot(state: SimState, clock: SimClock) {
  const finite = (n: number) => (Number.isFinite(n) ? n : null);
  return {
    version: VERSION,
    clockOffsetMs: clock.offset,
    miniPrograms: [...state.miniPrograms.values()].map((mp) => ({ ...mp, users: [...mp.users.values()] })),
    authorizations: [...state.authorizations.values()],
    tokens: state.tokens,
    tickets: state.tickets,
    preAuthCodes: [...state.preAuthCodes.values()],
    authCodes: [...state.authCodes.values()],
    media: [...state.media.values()].map((m) => ({ ...m, bytes: m.bytes.toString('base64') })),
    windows: [...state.windows.entries()].map(([k, w]) => [
      k,
      { remaining: w.remaining, deadline: finite(w.deadline) },
    ]),
    typing: [...state.typing.entries()],
    messages: state.messages,
    timelines: [...state.timelines.entries()],
    pushes: state.pushes.slice(-KEEP_PUSHES),
    calls: state.calls.slice(-KEEP_CALLS),
  };
}

export function restore(state: SimState, clock: SimClock, data: Persisted): void {
  if (data.version !== VERSION) throw new Error(`unsupported simulator state version ${data.version}`);
  clock.advance(data.clockOffsetMs - clock.offset);
  state.miniPrograms = new Map(
    data.miniPrograms.map((mp) => [
      mp.appid,
      { ...mp, users: new Map((mp.users as SimUser[]).map((u) => [u.openid, u])) } as SimMiniProgram,
    ]),
  );
  state.authorizations = new Map(data.authorizations.map((a) => [a.appid, a]));
  state.tokens = data.tokens;
  state.tickets = data.tickets;
  state.preAuthCodes = new Map(data.preAuthCodes.map((p) => [p.code, p]));
  state.authCodes = new Map(data.authCodes.map((a) => [a.code, a]));
  state.media = new Map(
    data.media.map((m) => [m.mediaId, { ...m, bytes: Buffer.from(m.bytes, 'base64') } as Media]),
  );
  state.windows = new Map(
    data.windows.map(([k, w]) => [
      k as string,
      {
        remaining: (w as { remaining: number }).remaining,
        deadline: (w as { deadline: number | null }).deadline ?? Number.NEGATIVE_INFINITY,
      },
    ]),
  );
  state.typing = new Map(data.typing);
  state.messages = data.messages;
  state.timelines = new Map(data.timelines);
  // Pushes still pending when the file was written will never settle.
  state.pushes = data.pushes.map((p) => (p.status === 'pending' ? { ...p, status: 'failed' as const } : p));
  state.calls = data.calls;
}

/** Writes the snapshot at most every `delayMs` after a change, atomically (temp file + rename). */
export class StateFile {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly path: string,
    private readonly take: () => unknown,
    private readonly log: (line: string) => void,
    private readonly delayMs = 250,
  ) {}

  load(): Persisted | null {
    if (!existsSync(this.path)) return null;
    return JSON.parse(readFileSync(this.path, 'utf8')) as Persisted;
  }

  markDirty(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.take()));
      renameSync(tmp, this.path);
    } catch (err) {
      // Losing a snapshot only costs a re-authorization after the next restart; keep simulating.
      this.log(`simulator: could not save ${this.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
