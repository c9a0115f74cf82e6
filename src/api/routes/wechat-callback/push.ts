import type { Context } from 'hono';
import { isDatabaseUnavailable } from '../../../db/errors.js';
import type { Deps } from '../../../deps.js';
import { BatcherClosedError, BatcherFullError } from '../../../ingest/batcher.js';
import { classifyPush, InvalidPushError } from '../../../ingest/classify.js';
import { ingestorFor } from '../../../ingest/ingestor.js';
import { handleReleaseTestPush, isReleaseTestAccount } from '../../../onboarding/release-check.js';
import { openPush, PushRejectedError } from '../../../wechat/push.js';
import { remoteIp } from '../../remote-ip.js';
import type { ApiApp, ApiEnv } from '../../types.js';
import { WECHAT_ID } from '../../validation.js';

/**
 * POST /wechat/callback/:appid (http-api.md §2, wechat-protocol.md §1.7 and §4): verify, decrypt, store once
 * through the group-commit queue, and answer `success` only after the push's batch has committed.
 * WeChat reads nothing but the status and the body, so every answer is text/plain.
 */
export function registerPushRoute(app: ApiApp, deps: Deps): void {
  const ingest = ingestorFor(deps);
  const count = (result: string) => deps.metrics.pushesReceived.inc({ endpoint: 'callback', result });

  app.post('/wechat/callback/:appid', async (c: Context<ApiEnv>) => {
    const appid = c.req.param('appid') as string;
    // WeChat fills $APPID$ with a real appid: any other path is no callback URL, and stores nothing
    if (!WECHAT_ID.test(appid)) {
      count('bad_request');
      return c.text('not_found', 404);
    }
    const query = c.req.query();
    const { timestamp, nonce } = query;
    const log = c.get('log');
    // Never the body, the key or the token: only what identifies the push and its sender. Built per line, not
    // as a child logger: with the logger's redaction a child costs tens of µs per push even when nothing logs.
    const where = () => ({ appid, timestamp, nonce, ip: remoteIp(c) });

    let opened: ReturnType<typeof openPush>;
    let push: ReturnType<typeof classifyPush>;
    try {
      opened = openPush(deps.crypto, await c.req.text(), {
        msgSignature: query.msg_signature,
        timestamp,
        nonce,
      });
      push = classifyPush(opened.fields);
    } catch (err) {
      if (err instanceof PushRejectedError) {
        count(err.result);
        log.warn({ ...where(), result: err.result, reason: err.message }, 'push rejected');
        return c.text(err.result, err.status);
      }
      if (err instanceof InvalidPushError) {
        count('bad_request');
        log.warn({ ...where(), result: 'bad_request', reason: err.message }, 'push rejected');
        return c.text('bad_request', 400);
      }
      throw err;
    }

    const releaseTest = isReleaseTestAccount(appid, push.toUserName ?? undefined);
    let outcome: Awaited<ReturnType<typeof ingest.submit>>;
    try {
      outcome = await ingest.submit({ appid, push, releaseTest });
    } catch (err) {
      outcome = { result: 'failed', error: err };
    }
    if (outcome.result === 'failed' && outcome.error instanceof BatcherClosedError) {
      // shutting down: this push was not taken; WeChat re-sends it, to another instance or after the restart
      count('overloaded');
      log.warn({ ...where(), result: 'shutting_down' }, 'push not accepted: shutting down');
      return c.text('shutting_down', 503);
    }
    if (outcome.result === 'failed' && outcome.error instanceof BatcherFullError) {
      // the database is stalled and enough pushes already wait for it: WeChat retries this one
      count('overloaded');
      log.warn({ ...where(), result: 'overloaded' }, 'push not accepted: too many waiting for the database');
      return c.text('overloaded', 503);
    }
    if (outcome.result === 'failed') {
      const unavailable = isDatabaseUnavailable(outcome.error);
      count(unavailable ? 'db_unavailable' : 'failed');
      log.error({ ...where(), err: outcome.error, dedupeKey: push.dedupeKey }, 'push not stored');
      return c.text(unavailable ? 'db_unavailable' : 'failed', unavailable ? 503 : 500);
    }
    count(outcome.result);
    if (outcome.result === 'rejected_recipient') {
      log.warn({ ...where(), result: outcome.result, toUserName: push.toUserName }, 'push rejected');
      return c.text(outcome.result, 401);
    }
    // debug: every accepted push is in the access log line already (route, appid in the path, status), and a
    // second line per push costs ingest about as much as decrypting it (the logger redacts each line).
    if (log.isLevelEnabled('debug')) {
      log.debug(
        outcome.result === 'stored'
          ? { ...where(), result: 'stored', pushId: outcome.pushId, eventId: outcome.eventId }
          : { ...where(), result: 'duplicate', dedupeKey: push.dedupeKey },
        'push received',
      );
    }
    if (releaseTest) {
      const reply = await handleReleaseTestPush(deps, {
        appid,
        payload: opened.fields,
        nonce: nonce ?? '',
        format: opened.format,
        keyUsed: opened.keyUsed,
        duplicate: outcome.result === 'duplicate',
      });
      return c.body(reply.body, 200, { 'content-type': reply.contentType });
    }
    return c.text('success');
  });
}
