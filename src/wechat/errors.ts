// The one table of WeChat errcodes (wechat-protocol.md §6, http-api.md §5). Classes:
// R compare-and-expire, refresh, retry once · B retry with backoff · W send window, no retry ·
// A authorization state · Q quota · O operator/config (alert) · P permanent.

export type ProductErrorCode =
  | 'mini_program_unauthorized'
  | 'send_window_closed'
  | 'send_limit_reached'
  | 'permission_missing'
  | 'invalid_openid'
  | 'invalid_media_id'
  | 'wechat_quota_exceeded'
  | 'wechat_error'
  | 'wechat_unavailable';

export type ErrcodeClass = 'R' | 'B' | 'W' | 'A' | 'Q' | 'O' | 'P';

export interface ErrcodeInfo {
  errcode: number;
  meaning: string;
  class: ErrcodeClass;
  product: ProductErrorCode;
  status: number;
  retryAfterSeconds?: number;
}

const STATUS: Record<ProductErrorCode, number> = {
  mini_program_unauthorized: 409,
  send_window_closed: 409,
  send_limit_reached: 429,
  permission_missing: 403,
  invalid_openid: 422,
  invalid_media_id: 422,
  wechat_quota_exceeded: 429,
  wechat_error: 502,
  wechat_unavailable: 503,
};

type Row = [errcode: number, cls: ErrcodeClass, product: ProductErrorCode, meaning: string];

const ROWS: Row[] = [
  [-1, 'B', 'wechat_unavailable', 'system busy'],
  [-1000, 'B', 'wechat_unavailable', 'system busy'],
  [40001, 'R', 'wechat_error', 'access token invalid or not the latest'],
  [40014, 'R', 'wechat_error', 'access token invalid'],
  [42001, 'R', 'wechat_error', 'access token expired'],
  [40003, 'P', 'invalid_openid', 'openid is not a user of this mini-program'],
  [40004, 'P', 'wechat_error', 'invalid media type'],
  [40006, 'P', 'wechat_error', 'media too large'],
  [45001, 'P', 'wechat_error', 'media too large'],
  [40007, 'P', 'invalid_media_id', 'media_id invalid or expired'],
  [40013, 'O', 'wechat_error', 'invalid appid'],
  [40125, 'O', 'wechat_error', 'invalid appsecret'],
  [41004, 'O', 'wechat_error', 'appsecret missing'],
  [61011, 'O', 'wechat_error', 'invalid component'],
  [45002, 'P', 'wechat_error', 'content too long'],
  [47001, 'P', 'wechat_error', 'malformed JSON body'],
  [45009, 'Q', 'wechat_quota_exceeded', 'daily API quota reached'],
  [45011, 'Q', 'wechat_quota_exceeded', 'per-minute API quota reached'],
  [45015, 'W', 'send_window_closed', 'reply window expired'],
  [45047, 'W', 'send_limit_reached', "reply window's message count used up"],
  [45072, 'P', 'wechat_error', 'invalid typing command'],
  [45080, 'P', 'wechat_error', 'typing needs a message exchange within 30 s'],
  [45081, 'P', 'wechat_error', 'already typing'],
  [48001, 'A', 'permission_missing', 'API permission missing or wrong token kind'],
  [61003, 'A', 'mini_program_unauthorized', 'not authorized by this account'],
  [61004, 'O', 'wechat_error', 'caller IP not whitelisted'],
  [61005, 'O', 'wechat_error', 'component_verify_ticket expired'],
  [61006, 'O', 'wechat_error', 'component_verify_ticket invalid'],
  [61007, 'A', 'permission_missing', 'permission set not granted to the platform'],
  [61009, 'A', 'wechat_error', 'authorization code invalid or already used'],
  [61010, 'A', 'wechat_error', 'authorization code expired'],
  [61023, 'A', 'mini_program_unauthorized', 'refresh token invalid'],
];

const TABLE: ReadonlyMap<number, ErrcodeInfo> = new Map(
  ROWS.map(([errcode, cls, product, meaning]) => {
    const info: ErrcodeInfo = { errcode, meaning, class: cls, product, status: STATUS[product] };
    // WeChat's per-minute quota resets on the next minute.
    if (errcode === 45011) info.retryAfterSeconds = 60;
    return [errcode, info];
  }),
);

export function describeErrcode(errcode: number): ErrcodeInfo {
  return (
    TABLE.get(errcode) ?? {
      errcode,
      meaning: ERRMSG[errcode] ?? 'unknown errcode',
      class: 'P',
      product: 'wechat_error',
      status: 502,
    }
  );
}

export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 40014, 42001]);
export const BUSY_ERRCODES: ReadonlySet<number> = new Set([-1, -1000]);

/** WeChat's own errmsg texts (without the trailing ` rid: …`), for the simulator to answer with. */
export const ERRMSG: Record<number, string> = {
  0: 'ok',
  [-1]: 'system error',
  [-1000]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40003: 'invalid openid',
  40004: 'invalid media type',
  40006: 'invalid meida size',
  40007: 'invalid media_id',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40101: 'missing parameter',
  40125: 'invalid appsecret',
  41004: 'appsecret missing',
  42001: 'access_token expired',
  45001: 'media size out of limit',
  45002: 'content size out of limit',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  45015: 'response out of time limit or subscription is canceled',
  45047: 'out of response count limit',
  45072: 'command is invalid',
  45080: 'need to interact with the user within 30 seconds before typing',
  45081: 'already in typing status',
  47001: 'data format error',
  48001: 'api unauthorized',
  61003: 'component is not authorized by this account',
  61004: 'access clientip is not registered',
  61005: 'component ticket is expired',
  61006: 'component ticket is invalid',
  61007: 'api is unauthorized to component',
  61009: 'code is invalid',
  61010: 'code is expired',
  61011: 'invalid component',
  61023: 'refresh_token is invalid',
};

const RID = /\brid:\s*([0-9A-Za-z-]+)/;

/** WeChat appends ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx` to errmsg; support asks for it. */
export function parseRid(errmsg: string): string | null {
  return RID.exec(errmsg)?.[1] ?? null;
}

export class WeChatApiError extends Error {
  override readonly name = 'WeChatApiError';
  readonly rid: string | null;
  constructor(
    readonly api: string,
    readonly errcode: number,
    readonly errmsg: string,
    rid?: string | null,
  ) {
    super(`${api}: errcode ${errcode}: ${errmsg}`);
    this.rid = rid === undefined ? parseRid(errmsg) : rid;
  }
  get info(): ErrcodeInfo {
    return describeErrcode(this.errcode);
  }
}

export type UnavailableReason = 'timeout' | 'network' | 'bad_response' | 'busy';

export interface WeChatUnavailableInit {
  api: string;
  reason: UnavailableReason;
  /** The request may have reached WeChat and taken effect, so a send must not be repeated blindly. */
  sent: boolean;
  errcode?: number;
  errmsg?: string;
  cause?: unknown;
  detail?: string;
}

export class WeChatUnavailableError extends Error {
  override readonly name = 'WeChatUnavailableError';
  readonly api: string;
  readonly reason: UnavailableReason;
  readonly errcode?: number;
  readonly errmsg?: string;
  readonly sent: boolean;
  constructor(init: WeChatUnavailableInit) {
    const detail = init.detail ?? (init.errcode !== undefined ? `errcode ${init.errcode}` : undefined);
    super(`${init.api}: wechat unavailable (${init.reason})${detail ? `: ${detail}` : ''}`, {
      cause: init.cause,
    });
    this.api = init.api;
    this.reason = init.reason;
    this.sent = init.sent;
    if (init.errcode !== undefined) this.errcode = init.errcode;
    if (init.errmsg !== undefined) this.errmsg = init.errmsg;
  }
}
