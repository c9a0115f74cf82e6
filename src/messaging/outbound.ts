import type { Query } from '../db/client.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import type { Deps } from '../deps.js';
import { Batcher } from '../ingest/batcher.js';

export type OutboundStatus = 'sent' | 'failed' | 'unknown';

export interface OutboundRecord {
  id: string;
  tenantId: string;
  appid: string;
  openid: string;
  type: string;
  /** the content as the tenant wrote it, e.g. `{text:{content}}` */
  body: Record<string, unknown>;
  createdAt: Date;
}

/** A refused send, kept with WeChat's answer; `unknown` when WeChat may have delivered it (timeout). */
export async function recordFailed(
  q: Query,
  m: OutboundRecord,
  outcome: { status: Exclude<OutboundStatus, 'sent'>; errcode: number | null; errmsg: string | null },
): Promise<void> {
  await q(
    `insert into outbound_messages (id, tenant_id, appid, openid, type, body, status, wechat_errcode, wechat_errmsg, created_at)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)`,
    [
      m.id,
      m.tenantId,
      m.appid,
      m.openid,
      m.type,
      JSON.stringify(m.body),
      outcome.status,
      outcome.errcode,
      outcome.errmsg,
      m.createdAt,
    ],
  );
}

/*
 * Group commit of the sent records (PERF-NOTES.md): concurrent sends that finish within a few milliseconds
 * share one statement and one commit. Rows for the same conversation are folded into one upsert row (one
 * statement may not touch a row twice): the decrements add up, never below zero, like one after another.
 * Conversations are upserted in (appid, openid) order so two batches in flight cannot deadlock.
 */
const RECORD_SENT_MANY = `
with r as (
  select id, tenant_id, appid, openid, type, body, created_at::timestamptz as created_at,
    sent_at::timestamptz as sent_at, decrement::boolean as decrement
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[])
    as u(id, tenant_id, appid, openid, type, body, created_at, sent_at, decrement)
), m as (
  insert into outbound_messages (id, tenant_id, appid, openid, type, body, status, created_at, sent_at)
  select id, tenant_id, appid, openid, type, body::jsonb, 'sent', created_at, sent_at from r
)
insert into conversations as c (appid, openid, remaining, deadline, last_outbound_at, updated_at)
select appid, openid, 0, null, max(sent_at), max(sent_at)
  from r
  group by appid, openid
  order by appid, openid
on conflict (appid, openid) do update set
  remaining = greatest(c.remaining - (
    select count(*) from r where r.appid = excluded.appid and r.openid = excluded.openid and r.decrement
  )::int, 0),
  last_outbound_at = greatest(c.last_outbound_at, excluded.last_outbound_at),
  updated_at = greatest(c.updated_at, excluded.updated_at)`;

interface SentItem {
  record: OutboundRecord;
  sentAt: Date;
  decrement: boolean;
}

async function recordSentMany(q: Query, items: SentItem[]): Promise<void> {
  const col = <T>(f: (i: SentItem) => T) => items.map(f);
  await q(RECORD_SENT_MANY, [
    col((i) => i.record.id),
    col((i) => i.record.tenantId),
    col((i) => i.record.appid),
    col((i) => i.record.openid),
    col((i) => i.record.type),
    col((i) => JSON.stringify(i.record.body)),
    col((i) => i.record.createdAt.toISOString()),
    col((i) => i.sentAt.toISOString()),
    // text arrays: postgres.js does not bind JS boolean or Date arrays to typed array parameters
    col((i) => (i.decrement ? 'true' : 'false')),
  ]);
}

/**
 * A 2 ms window is small next to a WeChat call; several batches in flight let one commit while the next
 * collects; PGlite has one connection, so one batch at a time there.
 */
function recorderTuning(deps: Deps) {
  const concurrency =
    deps.db.kind === 'pglite' ? 1 : Math.max(1, Math.min(4, Math.floor(deps.config.dbPoolMax / 2)));
  return { maxBatch: 128, maxWaitMs: 2, concurrency };
}

type Stored = { error: unknown } | null;

const recorders = new WeakMap<Deps, Batcher<SentItem, Stored>>();

function recorderFor(deps: Deps): Batcher<SentItem, Stored> {
  let batcher = recorders.get(deps);
  if (!batcher) {
    batcher = new Batcher<SentItem, Stored>({
      ...recorderTuning(deps),
      run: (items) => storeSentBatch(deps, items),
    });
    recorders.set(deps, batcher);
  }
  return batcher;
}

/**
 * A batch the database refuses for any reason but being unreachable is retried record by record, so one bad
 * record cannot fail the others' 201s; a record that still fails fails only its own request.
 */
async function storeSentBatch(deps: Deps, items: SentItem[]): Promise<Stored[]> {
  try {
    await recordSentMany(deps.db.query, items);
    return items.map(() => null);
  } catch (err) {
    if (items.length === 1 || isDatabaseUnavailable(err)) throw err;
    deps.log.warn({ err, size: items.length }, 'sent-record batch failed; storing its records one by one');
  }
  const outcomes: Stored[] = [];
  for (const item of items) {
    try {
      await recordSentMany(deps.db.query, [item]);
      outcomes.push(null);
    } catch (error) {
      outcomes.push({ error });
    }
  }
  return outcomes;
}

/**
 * Stores a sent message (and its effect on the conversation) in the next group commit; resolves once that
 * commit is done, so the caller answers 201 only for a stored record.
 */
export async function recordSentBatched(
  deps: Deps,
  m: OutboundRecord,
  sentAt: Date,
  opts: { decrement: boolean },
): Promise<void> {
  const stored = await recorderFor(deps).submit({ record: m, sentAt, decrement: opts.decrement });
  if (stored) throw stored.error;
}

/** Shutdown: records already accepted are committed before the database closes. */
export async function closeRecorder(deps: Deps): Promise<void> {
  await recorders.get(deps)?.close();
}
