import { EventEmitter } from 'node:events';
import { MsgIdSequence, newOpenid, newUserName } from './ids.js';
import type { MiniProgramSeed } from './options.js';
import type {
  AuthCode,
  Authorization,
  CallRecord,
  Fault,
  IssuedToken,
  Media,
  PreAuthCode,
  PushRecord,
  ReceivedMessage,
  SimMiniProgram,
  SimUser,
  Ticket,
  TimelineEntry,
  TypingState,
  WindowState,
} from './records.js';
import { DEMO_MINI_PROGRAMS, RELEASE_TEST_ACCOUNTS } from './seed.js';

export type * from './records.js';

export const HISTORY_LIMIT = 10_000;

const convKey = (appid: string, openid: string): string => `${appid}\u0000${openid}`;

/** Everything the simulator remembers; in memory, as a simulator may. */
export class SimState {
  readonly events = new EventEmitter();
  readonly msgIds = new MsgIdSequence();
  miniPrograms = new Map<string, SimMiniProgram>();
  authorizations = new Map<string, Authorization>();
  tokens: IssuedToken[] = [];
  tickets: Ticket[] = [];
  preAuthCodes = new Map<string, PreAuthCode>();
  authCodes = new Map<string, AuthCode>();
  media = new Map<string, Media>();
  windows = new Map<string, WindowState>();
  typing = new Map<string, TypingState>();
  calls: CallRecord[] = [];
  pushes: PushRecord[] = [];
  messages: ReceivedMessage[] = [];
  timelines = new Map<string, TimelineEntry[]>();
  faults: Fault[] = [];
  quotaCounters = new Map<string, { day: number; dayCount: number; minute: number; minuteCount: number }>();
  private seq = 0;

  constructor(private readonly seeds: { miniPrograms?: MiniProgramSeed[]; releaseTest: boolean }) {
    this.events.setMaxListeners(0);
    this.seed();
  }

  /** Appends to an inspection list, dropping the oldest entries so a long-running simulator stays small. */
  remember<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
  }

  nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  reset(): void {
    this.miniPrograms = new Map();
    this.authorizations = new Map();
    this.tokens = [];
    this.tickets = [];
    this.preAuthCodes = new Map();
    this.authCodes = new Map();
    this.media = new Map();
    this.windows = new Map();
    this.typing = new Map();
    this.calls = [];
    this.pushes = [];
    this.messages = [];
    this.timelines = new Map();
    this.faults = [];
    this.quotaCounters = new Map();
    this.seed();
  }

  private seed(): void {
    for (const seed of this.seeds.miniPrograms ?? DEMO_MINI_PROGRAMS) this.addMiniProgram(seed, 0);
    if (this.seeds.releaseTest) {
      for (const account of RELEASE_TEST_ACCOUNTS) {
        if (this.miniPrograms.has(account.appid)) continue;
        const mp = this.addMiniProgram(
          {
            appid: account.appid,
            userName: account.userName,
            nickname: `全网发布测试 ${account.group} ${account.kind === 'mini_program' ? '小程序' : '公众号'}`,
          },
          0,
        );
        mp.releaseTest = true;
      }
    }
  }

  addMiniProgram(seed: MiniProgramSeed, now: number): SimMiniProgram {
    const mp: SimMiniProgram = {
      appid: seed.appid,
      userName: seed.userName ?? newUserName(),
      nickname: seed.nickname ?? `小程序 ${seed.appid.slice(-6)}`,
      headImg: seed.headImg ?? `http://wx.qlogo.cn/mmopen/${seed.appid}/0`,
      principalName: seed.principalName ?? '模拟主体',
      signature: '由 kefu-relay 模拟器提供',
      accountStatus: seed.accountStatus ?? 1,
      releaseTest: false,
      users: new Map(),
    };
    this.miniPrograms.set(mp.appid, mp);
    for (const openid of seed.users ?? []) this.addUser(mp, { openid, known: true }, now);
    return mp;
  }

  addUser(
    mp: SimMiniProgram,
    input: { openid?: string; nickname?: string; known?: boolean },
    now: number,
  ): SimUser {
    const openid = input.openid ?? newOpenid();
    const existing = mp.users.get(openid);
    if (existing) return existing;
    const user: SimUser = {
      openid,
      nickname: input.nickname ?? `用户 ${openid.slice(-4)}`,
      known: input.known ?? false,
      createdAt: now,
    };
    mp.users.set(openid, user);
    return user;
  }

  window(appid: string, openid: string): WindowState {
    const key = convKey(appid, openid);
    let w = this.windows.get(key);
    if (!w) {
      w = { remaining: 0, deadline: Number.NEGATIVE_INFINITY };
      this.windows.set(key, w);
    }
    return w;
  }

  typingState(appid: string, openid: string): TypingState {
    const key = convKey(appid, openid);
    let t = this.typing.get(key);
    if (!t) {
      t = { typingUntil: null, lastExchangeAt: null };
      this.typing.set(key, t);
    }
    return t;
  }

  timeline(appid: string, openid: string): TimelineEntry[] {
    const key = convKey(appid, openid);
    let list = this.timelines.get(key);
    if (!list) {
      list = [];
      this.timelines.set(key, list);
    }
    return list;
  }

  addTimeline(appid: string, openid: string, entry: Omit<TimelineEntry, 'seq'>): TimelineEntry {
    const full = { ...entry, seq: this.nextSeq() };
    this.timeline(appid, openid).push(full);
    this.events.emit('timeline', { appid, openid, entry: full });
    return full;
  }

  /** The live authorization of an appid, or null when never granted or revoked. */
  activeAuthorization(appid: string): Authorization | null {
    const a = this.authorizations.get(appid);
    return a && a.revokedAt === null ? a : null;
  }
}
