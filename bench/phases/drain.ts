import { newId } from '../../src/ids.js';
import type { Bench } from '../context.js';
import { receiverStats, sleep, tagStats, waitForDeliveries } from '../context.js';
import { MINI_PROGRAM, startKefu } from '../kefu.js';
import { closedLoop, type LoadResult } from '../load.js';
import { msgIdFor, openidFor, type PushBatch } from '../pushes.js';

// (e) The backlog is written straight into the outbox (events + pending deliveries, shaped as ingest writes
// them), so that queueing 50,000 takes seconds and no instance with workers is running meanwhile.

const CHUNK = 5_000;

export async function queueBacklog(
  b: Bench,
  tenantId: string,
  endpointId: string,
  tag: number,
  n: number,
): Promise<void> {
  const content = '您好，我想咨询一下订单 #20261201 的物流状态，已经三天没有更新了，麻烦帮忙查一下。'.repeat(
    3,
  );
  for (let from = 0; from < n; from += CHUNK) {
    const now = new Date();
    const ids: string[] = [];
    const data: string[] = [];
    const dlv: string[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) {
      const msgId = msgIdFor(tag, i);
      const openid = openidFor(i % 10_000);
      const createTime = String(Math.floor(now.getTime() / 1000));
      const raw = {
        ToUserName: MINI_PROGRAM.userName,
        FromUserName: openid,
        CreateTime: createTime,
        MsgType: 'text',
        Content: content,
        MsgId: msgId,
      };
      ids.push(newId('evt'));
      dlv.push(newId('dlv'));
      data.push(
        JSON.stringify({
          openid,
          msgId,
          msgType: 'text',
          createTime: now.toISOString(),
          text: { content },
          raw,
        }),
      );
    }
    await b.database.db.transaction(async (q) => {
      await q(
        `insert into events (id, tenant_id, appid, type, data, created_at)
         select u.id, $2, $3, 'message.received', u.data::jsonb, $4
         from unnest($1::text[], $5::text[]) as u(id, data)`,
        [ids, tenantId, MINI_PROGRAM.appid, now, data],
      );
      await q(
        `insert into deliveries (id, tenant_id, event_id, endpoint_id, status, attempt_count, next_attempt_at,
           created_at, updated_at)
         select u.id, $2, u.event_id, $3, 'pending', 0, $4, $4, $4
         from unnest($1::text[], $5::text[]) as u(id, event_id)`,
        [dlv, tenantId, endpointId, now, ids],
      );
    });
  }
  const rows = await b.database.db.query<{ n: number }>(
    `select count(*)::int as n from deliveries d join events e on e.id = d.event_id
     where d.status = 'pending' and e.data->>'msgId' like $1`,
    [`${tag}%`],
  );
  if ((rows[0]?.n ?? 0) < n) throw new Error(`backlog: only ${rows[0]?.n} pending deliveries queued`);
}

export interface DrainResult {
  queued: number;
  delivered: number;
  /** first to last arrival of the backlog at the receiver */
  deliveriesPerSecond: number;
  /** from the instance's start (process spawn) to the last arrival (the wait is capped: see delivered) */
  wallSeconds: number;
}

/** A fresh instance with workers on drains the backlog; nothing else runs. */
export async function runDrain(b: Bench, tag: number, n: number, timeoutMs: number): Promise<DrainResult> {
  const spawned = Date.now();
  const k = await startKefu('kefu-drain', b.kefu, { RUN_WORKERS: 'true' });
  try {
    const s = await waitForDeliveries(b, tag, n, timeoutMs);
    const span = (s.lastAt - s.firstAt) / 1000;
    return {
      queued: n,
      delivered: s.distinct,
      deliveriesPerSecond: span > 0 ? (s.distinct - 1) / span : 0,
      wallSeconds: s.distinct > 0 ? (s.lastAt - spawned) / 1000 : (Date.now() - spawned) / 1000,
    };
  } finally {
    await k.child.stop();
  }
}

export interface DrainWithIngestResult {
  ingest: LoadResult;
  /** every webhook the receiver got while ingest ran (backlog and fresh pushes) */
  deliveriesPerSecond: number;
  backlogDelivered: number;
  backlogLeft: number;
}

/** Ingest at full speed into the instance that is draining the backlog, until the backlog is gone. */
export async function runDrainWithIngest(
  b: Bench,
  backlogTag: number,
  n: number,
  pushes: PushBatch,
): Promise<DrainWithIngestResult> {
  const k = await startKefu('kefu-drain-ingest', b.kefu, { RUN_WORKERS: 'true' });
  try {
    const before = await receiverStats(b);
    const t0 = performance.now();
    let backlogDone = false;
    let watching = true;
    const watch = (async () => {
      while (watching && !backlogDone) {
        backlogDone = tagStats(await receiverStats(b), backlogTag).distinct >= n;
        await sleep(100);
      }
    })();
    const ingest = await closedLoop(k.url, {
      connections: b.settings.connections,
      seconds: b.settings.ingestSeconds,
      next: pushes.next,
      until: () => backlogDone,
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await receiverStats(b);
    watching = false;
    await watch;
    const drained = tagStats(after, backlogTag).distinct;
    return {
      ingest,
      deliveriesPerSecond: (after.total - before.total) / seconds,
      backlogDelivered: drained,
      backlogLeft: n - drained,
    };
  } finally {
    await k.child.stop();
  }
}
