import type { Context } from 'hono';
import { remoteIp } from '../../api/remote-ip.js';
import type { ApiApp, ApiEnv } from '../../api/types.js';
import { isDatabaseUnavailable } from '../../db/errors.js';
import { unstorablePath } from '../../db/text.js';
import type { Deps } from '../../deps.js';
import { openPush, PushRejectedError } from '../../wechat/push.js';
import { processStoredEvent, storeComponentEvent } from '../component-events.js';

// 授权事件接收URL (wechat-protocol.md §1.7, §2). WeChat reads nothing but `200 success`; the failure answers
// are bare statuses with a one-word body, never a problem document (it is not a client of ours).

/** Inline processing gets this long; past it, `success` goes out and the work continues in the background. */
const INLINE_PROCESSING_MS = 3_000;

function plain(c: Context<ApiEnv>, text: string, status: 200 | 400 | 401 | 413 | 503) {
  return c.text(text, status, { 'content-type': 'text/plain; charset=utf-8' });
}

export function registerComponentEventRoute(app: ApiApp, deps: Deps): void {
  const count = (result: string) => deps.metrics.pushesReceived.inc({ endpoint: 'component', result });
  app.post('/wechat/component', async (c) => {
    const log = c.get('log');
    const timestamp = c.req.query('timestamp');
    const nonce = c.req.query('nonce');
    const msgSignature = c.req.query('msg_signature');
    const meta = { path: '/wechat/component', timestamp, nonce, ip: remoteIp(c) };

    let opened: ReturnType<typeof openPush>;
    try {
      opened = openPush(deps.crypto, await c.req.text(), { msgSignature, timestamp, nonce });
    } catch (err) {
      if (!(err instanceof PushRejectedError)) throw err;
      count(err.result);
      log.warn({ ...meta, result: err.result, reason: err.message }, 'component event rejected');
      return plain(c, err.result, err.status);
    }
    const { fields: payload, plaintext } = opened;
    // what PostgreSQL could not store is refused as the callback URL refuses it, not a 500
    if (unstorablePath(payload) !== null) {
      count('bad_request');
      log.warn(
        { ...meta, result: 'bad_request', reason: 'unstorable characters' },
        'component event rejected',
      );
      return plain(c, 'bad_request', 400);
    }

    let stored: Awaited<ReturnType<typeof storeComponentEvent>>;
    try {
      stored = await storeComponentEvent(deps, payload, plaintext);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      count('db_unavailable');
      log.error({ ...meta, err }, 'component event not stored: database unavailable');
      return plain(c, 'unavailable', 503);
    }
    count(stored.duplicate ? 'duplicate' : 'stored');
    log.info(
      { ...meta, infoType: stored.infoType, appid: payload.AuthorizerAppid, duplicate: stored.duplicate },
      'component event',
    );
    if (stored.pending) {
      const work = processStoredEvent(deps, stored.id).catch((err: unknown) =>
        log.warn({ err }, 'component event processing failed; the retry job takes it up'),
      );
      await Promise.race([work, new Promise((r) => setTimeout(r, INLINE_PROCESSING_MS).unref())]);
    }
    return plain(c, 'success', 200);
  });
}
