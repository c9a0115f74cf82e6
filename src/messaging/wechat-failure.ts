import { AppError } from '../errors.js';
import { describeErrcode, WeChatApiError, WeChatUnavailableError } from '../wechat/errors.js';

/**
 * A failed WeChat call as the problem a tenant sees: the errcode goes through the one table of
 * src/wechat/errors.ts, and WeChat's errcode/errmsg travel in the problem so support can search them.
 * null: not a WeChat failure (a bug), which the caller rethrows as a 500.
 */
export function wechatFailure(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  if (err instanceof WeChatApiError) {
    const info = describeErrcode(err.errcode);
    return new AppError(
      info.product,
      `WeChat refused the call: ${info.meaning} (errcode ${err.errcode})`,
      {
        wechatErrcode: err.errcode,
        wechatErrmsg: err.errmsg,
        ...(info.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: info.retryAfterSeconds }),
      },
      { cause: err },
    );
  }
  if (err instanceof WeChatUnavailableError) {
    const what = {
      timeout: 'WeChat did not answer in time',
      network: 'the connection to WeChat broke',
      bad_response: 'WeChat gave no valid answer',
      busy: 'WeChat was busy',
    }[err.reason];
    const detail = err.sent
      ? `${what} after the request was sent; the message may have been delivered, so it was not retried`
      : 'WeChat is unavailable or busy; try again later';
    return new AppError(
      'wechat_unavailable',
      detail,
      err.errcode === undefined ? {} : { wechatErrcode: err.errcode, wechatErrmsg: err.errmsg ?? '' },
      // idempotency.ts reads the cause: only a possibly delivered send is a final answer
      { cause: err },
    );
  }
  return null;
}

/**
 * True when the call certainly had no effect at WeChat (it refused, was busy, or was never reached), so a
 * taken allowance can be given back. A timeout after the request left may have delivered the message.
 */
export function certainlyNotDelivered(err: unknown): boolean {
  if (err instanceof WeChatApiError || err instanceof AppError) return true;
  if (err instanceof WeChatUnavailableError) return !err.sent;
  return false;
}
