/** What the simulator remembers, record by record (the state itself is in state.ts). */

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
