import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'undici';
import { BUSY_ERRCODES, WeChatApiError, WeChatUnavailableError } from './errors.js';

// The one client for every WeChat API call (wechat-protocol.md §3, §5, §6): transport, retry policy and
// redaction first, then typed methods that only translate WeChat's snake_case shapes.

export interface WeChatLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface WeChatCallEvent {
  api: string;
  errcode: number | null;
  outcome: 'ok' | 'error' | 'unavailable';
  durationMs: number;
}

export interface WeChatClientOptions {
  baseUrl: string;
  timeoutMs?: number;
  logger: WeChatLogger;
  sleep?: (ms: number) => Promise<void>;
  /** Called once per HTTP attempt, retries included. */
  onCall?: (e: WeChatCallEvent) => void;
  /** Upper bound of sockets to WeChat's host (default 64). */
  connections?: number;
}

/**
 * 'idempotent': any unavailability (timeout, network, bad answer, -1/-1000) is retried.
 * 'send': retried only when WeChat answered -1/-1000; otherwise the request may have been delivered.
 */
export type RetryPolicy = 'idempotent' | 'send';

export interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  retry: RetryPolicy;
}

interface RawBody {
  make: () => { body: string | Buffer | Readable; headers: Record<string, string> };
  /** False for a one-shot stream, which is then never retried. */
  replayable: boolean;
}

// http-api.md §4: two retries, after about 250 ms and 1 s.
export const RETRY_DELAYS_MS: readonly number[] = [250, 1000];
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const TOKEN_QUERY_KEYS = new Set(['access_token', 'component_access_token']);
const SECRET_BODY_FIELD = /token|secret|ticket|code$/i;
const REDACTED = '[redacted]';
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function redactQuery(query: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) out[k] = TOKEN_QUERY_KEYS.has(k) ? REDACTED : v;
  return out;
}

// Values that must reach neither a log line nor an error message, even if WeChat echoes them back.
function secretsOf(query: Record<string, string>, body: unknown): string[] {
  const found = Object.entries(query).filter(([k]) => TOKEN_QUERY_KEYS.has(k));
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body)) {
      if (SECRET_BODY_FIELD.test(k) && typeof v === 'string') found.push([k, v]);
    }
  }
  // Very short values are test fixtures, not credentials; scrubbing them would only garble errmsg.
  return found.map(([, v]) => v).filter((v) => v.length >= 8);
}

function scrub(text: string, secrets: string[]): string {
  return secrets.reduce((out, s) => out.replaceAll(s, REDACTED), text);
}

function transportError(api: string, err: unknown): WeChatUnavailableError {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown };
  const detail = typeof code === 'string' ? code : typeof name === 'string' ? name : 'error';
  const make = (reason: 'timeout' | 'network' | 'bad_response', sent: boolean) =>
    new WeChatUnavailableError({ api, reason, sent, detail, cause: err });
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return make('timeout', false);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError') {
    return make('timeout', true);
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return make('bad_response', true);
  return make('network', !(typeof code === 'string' && NOT_SENT_CODES.has(code)));
}

function badResponse(api: string, detail: string): WeChatUnavailableError {
  return new WeChatUnavailableError({ api, reason: 'bad_response', sent: true, detail });
}

type Json = Record<string, unknown>;

function record(api: string, value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badResponse(api, `${what} missing`);
  return value as Json;
}

function str(api: string, o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw badResponse(api, `${key} missing`);
  return v;
}

function optStr(o: Json, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// WeChat writes some numbers as strings (created_at), so both forms are read.
function num(api: string, o: Json, key: string): number {
  const v = o[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n)) throw badResponse(api, `${key} missing`);
  return n;
}

function permissionsOf(funcInfo: unknown): number[] {
  if (!Array.isArray(funcInfo)) return [];
  const ids = funcInfo.map((f) => (f as { funcscope_category?: { id?: unknown } })?.funcscope_category?.id);
  return ids.filter((id): id is number => typeof id === 'number');
}

function multipartFile(field: string, file: MediaUpload): RawBody {
  const boundary = `----kefu-relay-${randomBytes(12).toString('hex')}`;
  // A quoted filename cannot hold `"`, and a CR/LF would split the part header: percent-encode as browsers do.
  const filename = file.filename.replace(/["\r\n]/g, (c) => encodeURIComponent(c));
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      `Content-Type: ${file.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const { data } = file;
  if (Buffer.isBuffer(data)) {
    const whole = Buffer.concat([head, data, tail]);
    return { make: () => ({ body: whole, headers }), replayable: true };
  }
  if (file.size !== undefined) headers['content-length'] = String(head.length + file.size + tail.length);
  const source: AsyncIterable<Uint8Array> = data;
  async function* stream(): AsyncIterable<Uint8Array> {
    yield head;
    yield* source;
    yield tail;
  }
  return {
    make: () => ({ body: Readable.from(stream(), { objectMode: false }), headers }),
    replayable: false,
  };
}

export type CustomSendBody = { touser: string } & (
  | { msgtype: 'text'; text: { content: string } }
  | { msgtype: 'image'; image: { media_id: string } }
  | { msgtype: 'link'; link: { title: string; description: string; url: string; thumb_url: string } }
  | {
      msgtype: 'miniprogrampage';
      miniprogrampage: { title: string; pagepath: string; thumb_media_id: string };
    }
);

export interface MediaUpload {
  filename: string;
  contentType: string;
  data: Buffer | AsyncIterable<Uint8Array>;
  /** Byte length of an iterable `data`, sent as Content-Length; without it the body is chunked. */
  size?: number;
}

export interface AuthorizerInfo {
  nickname: string;
  userName: string;
  headImg: string;
  principalName: string;
  accountStatus: number;
  isMiniProgram: boolean;
  permissions: number[];
  refreshToken?: string;
}

export interface AuthorizerListEntry {
  authorizerAppid: string;
  refreshToken?: string;
  authTime: number;
}

export class WeChatClient {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #timeoutMs: number;
  readonly #log: WeChatLogger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onCall: ((e: WeChatCallEvent) => void) | undefined;

  constructor(opts: WeChatClientOptions) {
    const url = new URL(opts.baseUrl);
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#log = opts.logger;
    this.#sleep = opts.sleep ?? ((ms) => delay(ms));
    this.#onCall = opts.onCall;
    this.#pool = new Pool(url.origin, {
      connections: opts.connections ?? 64,
      connect: { timeout: this.#timeoutMs },
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
    });
  }

  /** POST a JSON body and parse the JSON answer; a non-zero errcode becomes a WeChatApiError. */
  call<T>(api: string, opts: CallOptions): Promise<T> {
    const query = opts.query ?? {};
    const json = JSON.stringify(opts.body ?? {});
    const headers = { 'content-type': 'application/json' };
    const body: RawBody = { make: () => ({ body: json, headers }), replayable: true };
    return this.#request<T>(api, query, opts.retry, body, secretsOf(query, opts.body));
  }

  async #request<T>(
    api: string,
    query: Record<string, string>,
    retry: RetryPolicy,
    body: RawBody,
    secrets: string[],
  ) {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#attempt(api, query, body, secrets, attempt)) as T;
      } catch (err) {
        if (!(err instanceof WeChatUnavailableError)) throw err;
        const wait = RETRY_DELAYS_MS[attempt - 1];
        const retryable =
          body.replayable && (retry === 'idempotent' || err.reason === 'busy') && wait !== undefined;
        const { reason, errcode, sent } = err;
        this.#log.warn(
          { api, attempt, reason, errcode, sent, willRetry: retryable },
          'wechat api unavailable',
        );
        if (!retryable) throw err;
        await this.#sleep(wait);
      }
    }
  }

  async #attempt(
    api: string,
    query: Record<string, string>,
    raw: RawBody,
    secrets: string[],
    attempt: number,
  ) {
    const started = performance.now();
    const report = (outcome: WeChatCallEvent['outcome'], errcode: number | null) => {
      const durationMs = performance.now() - started;
      this.#log.debug(
        { api, attempt, query: redactQuery(query), outcome, errcode, durationMs },
        'wechat api call',
      );
      try {
        this.#onCall?.({ api, errcode, outcome, durationMs });
      } catch {
        // A broken metrics hook must not turn WeChat's answer into a failure.
      }
    };
    const qs = new URLSearchParams(query).toString();
    const path = `${this.#basePath}/${api.replace(/^\/+/, '')}${qs ? `?${qs}` : ''}`;
    let status: number;
    let text: string;
    try {
      const { body, headers } = raw.make();
      const signal = AbortSignal.timeout(this.#timeoutMs);
      const res = await this.#pool.request({ path, method: 'POST', headers, body, signal });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      report('unavailable', null);
      throw transportError(api, err);
    }
    const ok = status >= 200 && status < 300;
    let answer: unknown;
    try {
      answer = ok ? JSON.parse(text) : undefined;
    } catch {
      answer = undefined;
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      report('unavailable', null);
      throw badResponse(api, ok ? 'answer is not a JSON object' : `HTTP ${status}`);
    }
    const { errcode, errmsg } = answer as { errcode?: unknown; errmsg?: unknown };
    const code = typeof errcode === 'number' ? errcode : 0;
    if (code === 0) {
      report('ok', 0);
      return answer;
    }
    const message = scrub(typeof errmsg === 'string' ? errmsg : '', secrets);
    if (BUSY_ERRCODES.has(code)) {
      report('unavailable', code);
      // WeChat answered "busy" instead of processing the request: nothing took effect.
      throw new WeChatUnavailableError({ api, reason: 'busy', sent: false, errcode: code, errmsg: message });
    }
    report('error', code);
    const error = new WeChatApiError(api, code, message);
    this.#log.warn({ api, errcode: code, errmsg: message, rid: error.rid }, 'wechat api error');
    throw error;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  // Component APIs (§3): the component token travels as ?component_access_token= (decision §11.3).

  async componentToken(p: { componentAppid: string; componentAppsecret: string; ticket: string }) {
    const api = 'cgi-bin/component/api_component_token';
    const body = {
      component_appid: p.componentAppid,
      component_appsecret: p.componentAppsecret,
      component_verify_ticket: p.ticket,
    };
    const r = await this.call<Json>(api, { body, retry: 'idempotent' });
    return {
      componentAccessToken: str(api, r, 'component_access_token'),
      expiresIn: num(api, r, 'expires_in'),
    };
  }

  async createPreAuthCode(componentToken: string, componentAppid: string) {
    const api = 'cgi-bin/component/api_create_preauthcode';
    const r = await this.#component(api, componentToken, { component_appid: componentAppid });
    return { preAuthCode: str(api, r, 'pre_auth_code'), expiresIn: num(api, r, 'expires_in') };
  }

  /** Not retried after a possible delivery: an authorization code is single-use (a repeat gets 61009). */
  async queryAuth(componentToken: string, componentAppid: string, authorizationCode: string) {
    const api = 'cgi-bin/component/api_query_auth';
    const body = { component_appid: componentAppid, authorization_code: authorizationCode };
    const r = await this.#component(api, componentToken, body, 'send');
    const info = record(api, r.authorization_info, 'authorization_info');
    return {
      authorizerAppid: str(api, info, 'authorizer_appid'),
      accessToken: str(api, info, 'authorizer_access_token'),
      expiresIn: num(api, info, 'expires_in'),
      refreshToken: str(api, info, 'authorizer_refresh_token'),
      permissions: permissionsOf(info.func_info),
    };
  }

  async authorizerToken(
    componentToken: string,
    componentAppid: string,
    authorizerAppid: string,
    refreshToken: string,
  ) {
    const api = 'cgi-bin/component/api_authorizer_token';
    const body = {
      component_appid: componentAppid,
      authorizer_appid: authorizerAppid,
      authorizer_refresh_token: refreshToken,
    };
    const r = await this.#component(api, componentToken, body);
    return {
      accessToken: str(api, r, 'authorizer_access_token'),
      expiresIn: num(api, r, 'expires_in'),
      // WeChat normally returns the same token; when it omits it, the one sent stays valid.
      refreshToken: optStr(r, 'authorizer_refresh_token') ?? refreshToken,
    };
  }

  async getAuthorizerInfo(
    componentToken: string,
    componentAppid: string,
    authorizerAppid: string,
  ): Promise<AuthorizerInfo> {
    const api = 'cgi-bin/component/api_get_authorizer_info';
    const r = await this.#component(api, componentToken, {
      component_appid: componentAppid,
      authorizer_appid: authorizerAppid,
    });
    const info = record(api, r.authorizer_info, 'authorizer_info');
    const auth =
      typeof r.authorization_info === 'object' && r.authorization_info !== null
        ? (r.authorization_info as Json)
        : {};
    const status = info.account_status;
    const result: AuthorizerInfo = {
      nickname: optStr(info, 'nick_name') ?? '',
      userName: str(api, info, 'user_name'),
      headImg: optStr(info, 'head_img') ?? '',
      principalName: optStr(info, 'principal_name') ?? '',
      // Older answers carry no account_status; its absence meant a normal account (1).
      accountStatus: typeof status === 'number' ? status : 1,
      isMiniProgram: typeof info.MiniProgramInfo === 'object' && info.MiniProgramInfo !== null,
      permissions: permissionsOf(auth.func_info),
    };
    const refreshToken = optStr(auth, 'authorizer_refresh_token');
    if (refreshToken !== undefined) result.refreshToken = refreshToken;
    return result;
  }

  async getAuthorizerList(componentToken: string, componentAppid: string, offset: number, count: number) {
    const api = 'cgi-bin/component/api_get_authorizer_list';
    const r = await this.#component(api, componentToken, { component_appid: componentAppid, offset, count });
    const list = (Array.isArray(r.list) ? r.list : []).map((item): AuthorizerListEntry => {
      const o = record(api, item, 'list entry');
      const entry: AuthorizerListEntry = {
        authorizerAppid: str(api, o, 'authorizer_appid'),
        authTime: num(api, o, 'auth_time'),
      };
      const refreshToken = optStr(o, 'refresh_token');
      if (refreshToken !== undefined) entry.refreshToken = refreshToken;
      return entry;
    });
    return { totalCount: num(api, r, 'total_count'), list };
  }

  async startPushTicket(componentAppid: string, componentSecret: string): Promise<void> {
    const body = { component_appid: componentAppid, component_secret: componentSecret };
    await this.call('cgi-bin/component/api_start_push_ticket', { body, retry: 'idempotent' });
  }

  #component(api: string, componentToken: string, body: unknown, retry: RetryPolicy = 'idempotent') {
    return this.call<Json>(api, { query: { component_access_token: componentToken }, body, retry });
  }

  // Authorizer APIs (§5): ?access_token= is the target mini-program's authorizer token.

  async customSend(accessToken: string, body: CustomSendBody): Promise<void> {
    await this.call('cgi-bin/message/custom/send', {
      query: { access_token: accessToken },
      body,
      retry: 'send',
    });
  }

  /** Not retried after a possible delivery either: a repeat would meet 45081 (already typing). */
  async typing(accessToken: string, openid: string, command: 'Typing' | 'CancelTyping'): Promise<void> {
    const body = { touser: openid, command };
    await this.call('cgi-bin/message/custom/typing', {
      query: { access_token: accessToken },
      body,
      retry: 'send',
    });
  }

  /** A Buffer is retried like any idempotent call; an iterable source can be read only once. */
  async uploadMedia(accessToken: string, file: MediaUpload) {
    const api = 'cgi-bin/media/upload';
    const query = { access_token: accessToken, type: 'image' };
    const r = await this.#request<Json>(api, query, 'idempotent', multipartFile('media', file), [
      accessToken,
    ]);
    const createdAt = r.created_at === undefined ? Date.now() / 1000 : num(api, r, 'created_at');
    return {
      mediaId: str(api, r, 'media_id'),
      type: optStr(r, 'type') ?? 'image',
      createdAt: new Date(createdAt * 1000),
    };
  }
}
