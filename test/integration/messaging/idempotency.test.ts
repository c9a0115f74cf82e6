import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.js';
import { openDatabase } from '../../../src/db/client.js';
import {
  idempotencyPurgeJob,
  requestFingerprint,
  SentNotRecordedError,
  withIdempotency,
} from '../../../src/messaging/idempotency.js';
import { onPostgres } from '../../helpers/db.js';
import { json } from '../../helpers/http.js';
import {
  type MessagingEnv,
  type Onboarded,
  onboard,
  startMessagingEnv,
  userEnters,
  userWrites,
} from './setup.js';

let env: MessagingEnv;
beforeAll(async () => {
  env = await startMessagingEnv();
});
afterAll(() => env?.close());

const text = (openid: string, content = 'hello') => ({ openid, type: 'text', text: { content } });
const send = (mp: Onboarded, body: Record<string, unknown>, key?: string) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
    method: 'POST',
    json: body,
    token: mp.apiKey,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
const received = async (mp: Onboarded) => (await env.sim.control.messages({ appid: mp.appid })).length;
const freshKey = () => `key-${Math.random().toString(36).slice(2)}`;

describe('withIdempotency when WeChat took the message but the database failed to record it', () => {
  it('keeps the key in progress: a repeat is 409, never a second send', async () => {
    const mp = await onboard(env);
    const input = {
      tenantId: mp.tenantId,
      key: freshKey(),
      fingerprint: requestFingerprint('POST', '/x', { a: 1 }),
      now: env.clock.now(),
      requestId: 'req_test',
    };
    let runs = 0;
    const sentButNotRecorded = async () => {
      runs++;
      throw new SentNotRecordedError(new Error('connection closed'));
    };
    await expect(withIdempotency(env.h.deps.db, input, sentButNotRecorded)).rejects.toBeInstanceOf(
      SentNotRecordedError,
    );
    await expect(withIdempotency(env.h.deps.db, input, sentButNotRecorded)).rejects.toMatchObject({
      code: 'idempotency_in_progress',
    });
    expect(runs).toBe(1);
  });
});

describe('Idempotency-Key on POST …/messages', () => {
  it('a repeat with the same key and body replays the first response and sends nothing', async () => {
    const mp = await onboard(env);
    env.clock.set(await env.sim.control.now());
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    const first = await send(mp, text(mp.openid), key);
    expect(first.status).toBe(201);
    const body = await json(first);
    env.clock.advance(60_000);
    const again = await send(mp, { type: 'text', text: { content: 'hello' }, openid: mp.openid }, key); // other key order
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(body);
    expect(await received(mp)).toBe(1);
    const view = await json(
      env.h.request(`/v1/mini-programs/${mp.appid}/conversations/${mp.openid}`, { token: mp.apiKey }),
    );
    expect(view.window.remaining).toBe(4);
  });

  it('the same key with another body is 422 idempotency_key_reused', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    expect((await send(mp, text(mp.openid, 'one'), key)).status).toBe(201);
    const res = await send(mp, text(mp.openid, 'two'), key);
    expect([res.status, (await json(res)).code]).toEqual([422, 'idempotency_key_reused']);
    expect(await received(mp)).toBe(1);
  });

  it('keys are per tenant: another tenant may use the same key', async () => {
    const a = await onboard(env);
    const b = await onboard(env);
    await userWrites(env, a, a.openid);
    await userWrites(env, b, b.openid);
    const key = freshKey();
    expect((await send(a, text(a.openid), key)).status).toBe(201);
    const other = await send(b, text(b.openid), key);
    expect(other.status).toBe(201);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a problem is a response too: replayed (status and body) even after the window opened', async () => {
    const mp = await onboard(env);
    const key = freshKey();
    const first = await send(mp, text(mp.openid), key);
    expect(first.status).toBe(409);
    const problem = await json(first);
    env.clock.set(await env.sim.control.now());
    await userEnters(env, mp, mp.openid);
    const again = await send(mp, text(mp.openid), key);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await json(again)).toEqual(problem);
    expect(await received(mp)).toBe(0);
  });

  it('a repeat while the first has not answered is 409 idempotency_in_progress', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'delay', delayMs: 1500 });
    const first = send(mp, text(mp.openid), key);
    // the first request holds the key as soon as its in_progress row exists
    for (let i = 0; i < 200; i++) {
      const rows = await env.h.deps.db.query(
        "select 1 from idempotency_keys where key = $1 and state = 'in_progress'",
        [key],
      );
      if (rows.length > 0) break;
      await new Promise((r) => setImmediate(r));
    }
    const during = await send(mp, text(mp.openid), key);
    expect([during.status, (await json(during)).code]).toEqual([409, 'idempotency_in_progress']);
    expect((await first).status).toBe(201);
    const after = await send(mp, text(mp.openid), key);
    expect([after.status, after.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect(await received(mp)).toBe(1);
  });

  it('an in_progress key whose owner died is taken over once its lease has passed', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    const now = env.clock.now();
    // what an instance that crashed mid-request leaves behind
    const fingerprint = requestFingerprint('POST', `/v1/mini-programs/${mp.appid}/messages`, text(mp.openid));
    await env.h.deps.db.query(
      `insert into idempotency_keys (tenant_id, key, request_hash, state, locked_until, created_at, expires_at)
       values ($1, $2, $3, 'in_progress', $4, $5, $6)`,
      [
        mp.tenantId,
        key,
        fingerprint,
        new Date(now.getTime() + 60_000),
        now,
        new Date(now.getTime() + 86_400_000),
      ],
    );
    expect((await send(mp, text(mp.openid), key)).status).toBe(409);
    env.clock.advance(60_000);
    const res = await send(mp, text(mp.openid), key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await received(mp)).toBe(1);
  });

  it('WeChat busy (nothing sent) frees the key, so the same key may be retried', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: -1, times: 3 });
    expect((await send(mp, text(mp.openid), key)).status).toBe(503);
    const retry = await send(mp, text(mp.openid), key);
    expect([retry.status, retry.headers.get('idempotent-replayed')]).toEqual([201, null]);
  });

  it('an invalid key is 422; a body that fails validation does not use the key', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const long = await send(mp, text(mp.openid), 'k'.repeat(256));
    expect([long.status, (await json(long)).code]).toEqual([422, 'validation_failed']);
    expect((await send(mp, text(mp.openid), 'k'.repeat(255))).status).toBe(201);
    const key = freshKey();
    expect((await send(mp, { openid: mp.openid, type: 'text' }, key)).status).toBe(422);
    expect((await send(mp, text(mp.openid), key)).status).toBe(201);
  });

  it('typing takes a key too', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    const typing = () =>
      env.h.request(`/v1/mini-programs/${mp.appid}/typing`, {
        method: 'POST',
        token: mp.apiKey,
        json: { openid: mp.openid, typing: true },
        headers: { 'idempotency-key': key },
      });
    expect((await typing()).status).toBe(204);
    // a second Typing would meet WeChat's 45081 (already typing): the replay answers 204 without a call
    const again = await typing();
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([204, 'true']);
    expect((await env.sim.control.calls('custom_typing')).filter((c) => c.appid === mp.appid)).toHaveLength(
      1,
    );
  });

  it('keys are kept 24 h, then purged by the background job and usable again', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const key = freshKey();
    expect((await send(mp, text(mp.openid, 'first'), key)).status).toBe(201);
    const job = idempotencyPurgeJob(env.h.deps);
    env.clock.advance(24 * 3600_000 - 1000);
    await job.runOnce();
    expect((await send(mp, text(mp.openid, 'other'), key)).status).toBe(422);
    env.clock.advance(1000);
    await job.runOnce();
    const rows = await env.h.deps.db.query(
      'select 1 from idempotency_keys where tenant_id = $1 and key = $2',
      [mp.tenantId, key],
    );
    expect(rows).toHaveLength(0);
    // the key is free: a new request under it is processed (a user who never wrote: refused locally, no call)
    const fresh = await send(mp, text('oNeverWrote', 'other'), key);
    expect([fresh.status, (await json(fresh)).code]).toEqual([409, 'send_window_closed']);
  });
});

describe('keys are shared by instances (PostgreSQL: a second instance on the same database)', () => {
  it.runIf(onPostgres)(
    'instance B replays what A answered, and sees A in flight (on PostgreSQL)',
    async () => {
      const db2 = await openDatabase({ url: env.h.database.url, poolMax: 2 });
      try {
        const b = createApp({ ...env.h.deps, db: db2 });
        env.clock.set(await env.sim.control.now()); // back from the purge test's day
        const mp = await onboard(env);
        await userWrites(env, mp, mp.openid);
        const viaB = (key: string) =>
          b.request(`/v1/mini-programs/${mp.appid}/messages`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${mp.apiKey}`,
              'content-type': 'application/json',
              'idempotency-key': key,
            },
            body: JSON.stringify(text(mp.openid)),
          });
        const key = freshKey();
        const first = await json(send(mp, text(mp.openid), key));
        const replay = await viaB(key);
        expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
        expect(await json(replay)).toEqual(first);

        const slow = freshKey();
        await env.sim.control.addFault({ api: 'custom_send', kind: 'delay', delayMs: 1500 });
        const inFlight = send(mp, text(mp.openid), slow);
        for (let i = 0; i < 200; i++) {
          const rows = await db2.query(
            "select 1 from idempotency_keys where key = $1 and state = 'in_progress'",
            [slow],
          );
          if (rows.length > 0) break;
          await new Promise((r) => setImmediate(r));
        }
        const during = await viaB(slow);
        expect([during.status, (await json(during)).code]).toEqual([409, 'idempotency_in_progress']);
        expect((await inFlight).status).toBe(201);
        expect(await received(mp)).toBe(2);
      } finally {
        await db2.close();
      }
    },
  );
});
