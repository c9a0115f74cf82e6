import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { SimContext } from './context.js';
import type { Fault } from './state.js';
import { WxError, wxErrorBody } from './wx-error.js';

/** Filled by a handler so the call log can say whose call it was without keeping the token. */
export interface CallInfo {
  appid: string | null;
  tokenPrefix: string | null;
}

export type ApiResult = Record<string, unknown> | Response;
export type ApiHandler = (c: Context, call: CallInfo) => Promise<ApiResult>;

const BEIJING_OFFSET_S = 8 * 3600;

export function clientIp(c: Context): string {
  try {
    const address = getConnInfo(c).remote.address ?? '127.0.0.1';
    return address.startsWith('::ffff:') ? address.slice(7) : address === '::1' ? '127.0.0.1' : address;
  } catch {
    // app.request() in unit use has no socket.
    return '127.0.0.1';
  }
}

function takeFault(ctx: SimContext, api: string): Fault | null {
  const index = ctx.state.faults.findIndex((f) => f.api === api || f.api === '*');
  if (index < 0) return null;
  const fault = ctx.state.faults[index] as Fault;
  fault.remaining -= 1;
  if (fault.remaining <= 0) ctx.state.faults.splice(index, 1);
  return fault;
}

/** WeChat counts quotas per API; the daily count resets at midnight Beijing time. */
function checkQuota(ctx: SimContext, api: string): void {
  const { daily, perMinute } = ctx.config.quotas;
  const now = ctx.clock.nowSec();
  const day = Math.floor((now + BEIJING_OFFSET_S) / 86_400);
  const minute = Math.floor(now / 60);
  const prev = ctx.state.quotaCounters.get(api);
  const counter = {
    day,
    dayCount: prev?.day === day ? prev.dayCount : 0,
    minute,
    minuteCount: prev?.minute === minute ? prev.minuteCount : 0,
  };
  if (daily !== null && counter.dayCount >= daily) throw new WxError(45009);
  if (perMinute !== null && counter.minuteCount >= perMinute) throw new WxError(45011);
  counter.dayCount += 1;
  counter.minuteCount += 1;
  ctx.state.quotaCounters.set(api, counter);
}

function dropConnection(c: Context): void {
  const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
  incoming?.socket?.destroy();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Wraps one WeChat API: fault injection first (it plays the network), then the IP whitelist and quotas, then
 * the handler; every call is recorded with its errcode.
 */
export function apiRoute(ctx: SimContext, api: string, handler: ApiHandler) {
  return async (c: Context): Promise<Response> => {
    const startedAt = ctx.clock.now();
    const started = performance.now();
    const ip = clientIp(c);
    const call: CallInfo = { appid: null, tokenPrefix: null };
    let errcode: number | null = null;
    let response: Response;
    const fault = takeFault(ctx, api);
    try {
      if (fault?.kind === 'delay') await sleep(fault.delayMs);
      if (fault?.kind === 'hang') {
        await Promise.race([ctx.stopped, fault.delayMs > 0 ? sleep(fault.delayMs) : new Promise(() => {})]);
        dropConnection(c);
        response = c.body(null, 504);
      } else if (fault?.kind === 'drop') {
        dropConnection(c);
        response = c.body(null, 502);
      } else if (fault?.kind === 'http') {
        response = c.body(fault.body ?? '', (fault.status ?? 502) as 502, { 'content-type': 'text/html' });
      } else if (fault?.kind === 'errcode') {
        errcode = fault.errcode ?? -1;
        response = c.json(wxErrorBody(errcode, undefined, fault.errmsg ?? undefined));
      } else {
        const whitelist = ctx.config.ipWhitelist;
        if (whitelist && !whitelist.includes(ip)) throw new WxError(61004, `requestIP: ${ip}`);
        checkQuota(ctx, api);
        const result = await handler(c, call);
        if (result instanceof Response) {
          errcode = result.headers.get('content-type')?.includes('json') ? null : 0;
          response = result;
        } else {
          errcode = typeof result.errcode === 'number' ? result.errcode : 0;
          response = c.json(result);
        }
      }
    } catch (err) {
      if (err instanceof WxError) {
        errcode = err.errcode;
      } else {
        ctx.log(`simulator: ${api} failed: ${err instanceof Error ? err.message : String(err)}`);
        errcode = -1;
      }
      response = c.json(wxErrorBody(errcode, err instanceof WxError ? err.detail : undefined));
    }
    ctx.state.remember(ctx.state.calls, {
      seq: ctx.state.nextSeq(),
      at: startedAt,
      api,
      method: c.req.method,
      path: c.req.path,
      ip,
      appid: call.appid,
      tokenPrefix: call.tokenPrefix,
      errcode,
      httpStatus: response.status,
      durationMs: Math.round(performance.now() - started),
      fault: fault ? fault.kind : null,
    });
    return response;
  };
}

/** Reads a JSON body the way WeChat does: anything unparsable is 47001. */
export async function readJson(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') throw new WxError(44002);
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new WxError(47001);
}

export function str(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
