import { ERRMSG } from '../wechat/errors.js';
import { newRid } from './ids.js';

export interface WxErrorBody {
  errcode: number;
  errmsg: string;
}

/** A WeChat rejection: thrown inside API handlers, rendered as `{errcode, errmsg: "<text> rid: …"}`. */
export class WxError extends Error {
  constructor(
    readonly errcode: number,
    readonly detail?: string,
  ) {
    super(`errcode ${errcode}`);
  }
}

/** WeChat texts for codes the shared table does not need but the simulator answers with. */
const EXTRA_ERRMSG: Record<number, string> = {
  40008: 'invalid message type',
  40097: 'invalid args',
  41001: 'access_token missing',
  41002: 'appid missing',
  41005: 'media data missing',
  44002: 'empty post data',
};

export function errmsgText(errcode: number): string {
  return ERRMSG[errcode] ?? EXTRA_ERRMSG[errcode] ?? 'unknown error';
}

export function wxErrorBody(errcode: number, detail?: string, text?: string): WxErrorBody {
  if (errcode === 0) return { errcode: 0, errmsg: 'ok' };
  const base = text ?? errmsgText(errcode);
  return { errcode, errmsg: `${base}${detail ? ` ${detail}` : ''} rid: ${newRid()}` };
}
