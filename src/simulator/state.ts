import { EventEmitter } from 'node:events';
import { MsgIdSequence, newOpenid, newUserName } from './ids.js';
import type { MiniProgramSeed } from './options.js';
import { DEMO_MINI_PROGRAMS, RELEASE_TEST_ACCOUNTS } from './seed.js';

export interface SimUser {
  openid: string;
  nickname: string;
  /** WeChat only knows an openid for a mini-program once that user wrote to it (else custom/send → 40003). */
  known: boolean;
  createdAt: number;
}

export interface SimMiniProgram {
  appid: string;
  userName: string;
  nickname: string;
  headImg: string;
  principalName: string;
  signature: string;
  accountStatus: number;
  releaseTest: boolean;
  users: Map<string, SimUser>;
}

export interface Authorization {
  appid: string;
  permissions: number[];
  refreshToken: string;
  /** Rotated-away refresh tokens and until when (ms) they still work. */
  oldRefreshTokens: Array<{ token: string; validUntil: number }>;
  authTime: number;
  /** api_get_authorizer_list hides the refresh token until a code of this grant was exchanged. */
  exchanged: boolean;
  revokedAt: number | null;
}

export interface IssuedToken {
  token: string;
  kind: 'component' | 'authorizer';
  appid: string | null;
  issuedAt: number;
  expiresAt: number;
  supersededAt: number | null;
  invalidatedAt: number | null;
}

export interface Ticket {
  value: string;
  firstPushedAt: number;
  lastPushedAt: number;
}

export interface PreAuthCode {
  code: string;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export interface AuthCode {
  code: string;
  appid: string;
  permissions: number[];
  preAuthCode: string | null;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export interface Media {
  mediaId: string;
  appid: string;
  contentType: string;
  filename: string;
  bytes: Buffer;
  createdAt: number;
  source: 'upload' | 'user';
}

/** wechat-protocol.md §7: `deadline` in unix seconds; no state = (0, -∞). */
export interface WindowState {
  remaining: number;
  deadline: number;
}

export interface TypingState {
  typingUntil: number | null;
  lastExchangeAt: number | null;
}

export interface CallRecord {
  seq: number;
  at: number;
  api: string;
  method: string;
  path: string;
  ip: string;
  appid: string | null;
  tokenPrefix: string | null;
  errcode: number | null;
  httpStatus: number;
  durationMs: number;
  fault: string | null;
}

export interface PushAttempt {
  n: number;
  startedAt: number;
  durationMs: number;
  status: number | null;
  body: string | null;
  error: string | null;
  ok: boolean;
}

export interface PushRecord {
  id: string;
  kind: 'component' | 'authorizer';
  /** InfoType for component events, MsgType or `event:<Event>` for authorizer pushes. */
  type: string;
  appid: string;
  openid: string | null;
  url: string;
  plaintext: string;
  createdAt: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: PushAttempt[];
  /** The decrypted passive reply, when the receiver answered with one (全网发布). */
  reply: { plaintext: string; verified: boolean; error: string | null } | null;
}

export interface ReceivedMessage {
  seq: number;
  at: number;
  appid: string;
  openid: string;
  msgtype: string;
  body: Record<string, unknown>;
  api: string;
}

export interface TimelineEntry {
  seq: number;
  at: number;
  from: 'user' | 'tenant';
  type: string;
  /** What the chat page shows: text, media ids, card fields. */
  data: Record<string, unknown>;
  pushId: string | null;
}

export interface Fault {
  id: number;
  api: string;
  kind: 'errcode' | 'delay' | 'hang' | 'drop' | 'http';
  errcode: number | null;
  errmsg: string | null;
  delayMs: number;
  status: number | null;
  body: string | null;
  remaining: number;
}

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
  quotaCounters = new Map<string, number>();
  private seq = 0;

  constructor(private readonly seeds: { miniPrograms?: MiniProgramSeed[]; releaseTest: boolean }) {
    this.events.setMaxListeners(0);
    this.seed();
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
          { appid: account.appid, userName: account.userName, nickname: `全网发布测试 ${account.group}` },
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
