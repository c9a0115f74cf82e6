import { Pool } from 'undici';
import type { Bench } from '../context.js';
import { call, isMissingRoute, type KefuInstance, MINI_PROGRAM } from '../kefu.js';
import { closedLoop, type LoadRequest, type LoadResult, openLoop } from '../load.js';

// The reply API against bench/fake-wechat.ts, with SEND_WINDOW_ENFORCE on (the default) and conversations
// seeded with an allowance that cannot run out, so the atomic allowance take is part of every send.

const USERS = 1_000;
const WINDOW_USER = 'oBenchWindowCheck0000000000';
const FAR = new Date('2100-01-01T00:00:00Z');

function replyOpenid(i: number): string {
  return `oBenchReply${String(i).padStart(17, '0')}`;
}

async function seedConversations(b: Bench, openids: string[], remaining: number): Promise<void> {
  await b.database.db.query(
    `insert into conversations (appid, openid, remaining, deadline, last_inbound_at, updated_at)
     select $1, o, $3, $4, now(), now() from unnest($2::text[]) as o
     on conflict (appid, openid) do update set remaining = excluded.remaining, deadline = excluded.deadline`,
    [MINI_PROGRAM.appid, openids, remaining, FAR],
  );
}

function sender(apiKey: string): () => LoadRequest {
  let i = 0;
  const path = `/v1/mini-programs/${MINI_PROGRAM.appid}/messages`;
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  return () => {
    const openid = replyOpenid(i++ % USERS);
    return {
      method: 'POST',
      path,
      headers,
      body: JSON.stringify({
        openid,
        type: 'text',
        text: { content: `您好，您的订单已经发货，单号 SF${i}。` },
      }),
    };
  };
}

export interface RepliesResult {
  throughput: LoadResult;
  latency: LoadResult;
  windowCheck: { fired: number; accepted: number; statuses: Record<string, number> };
  wechatCalls: Record<string, number>;
}

/** null when the reply route has not landed yet. */
export async function runReplies(b: Bench, k: KefuInstance, apiKey: string): Promise<RepliesResult | null> {
  const probe = await call(k.url, 'POST', `/v1/mini-programs/${MINI_PROGRAM.appid}/messages`, {
    token: apiKey,
    json: {},
  });
  if (isMissingRoute(probe)) return null;
  await seedConversations(
    b,
    Array.from({ length: USERS }, (_, i) => replyOpenid(i)),
    1_000_000_000,
  );
  const next = sender(apiKey);
  const c = b.settings.connections;
  await closedLoop(k.url, { connections: c, seconds: b.settings.warmupSeconds, next });
  const throughput = await closedLoop(k.url, { connections: c, seconds: b.settings.replySeconds, next });
  const latency = await openLoop(k.url, {
    connections: c,
    rate: 500,
    seconds: b.settings.latencySeconds,
    next,
  });

  // No concurrency may exceed the window: 200 sends at once for a user with 5 left.
  await seedConversations(b, [WINDOW_USER], 5);
  const fired = 200;
  const pool = new Pool(k.url, { connections: fired });
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: fired }, async (_, i) => {
      const res = await pool.request({
        method: 'POST',
        path: `/v1/mini-programs/${MINI_PROGRAM.appid}/messages`,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ openid: WINDOW_USER, type: 'text', text: { content: `race ${i}` } }),
      });
      await res.body.text();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    }),
  );
  await pool.close();
  const wechatCalls = (await (await fetch(`${b.fakeWechat.url}/stats`)).json()) as Record<string, number>;
  return {
    throughput,
    latency,
    windowCheck: { fired, accepted: statuses['201'] ?? 0, statuses },
    wechatCalls,
  };
}
