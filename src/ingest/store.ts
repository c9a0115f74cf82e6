import {
  countCreatedEvents,
  endpointsForPushes,
  enqueueDeliveries,
  type NewEvent,
  notifyDeliveries,
  notifyOnCommit,
} from '../delivery/outbox.js';
import type { Deps } from '../deps.js';
import { newId } from '../ids.js';
import { type InboundAction, recordInboundActions } from '../messaging/conversations.js';
import type { ClassifiedPush } from './classify.js';

export interface PushToStore {
  /** the path appid ($APPID$ of the callback URL) */
  appid: string;
  push: ClassifiedPush;
  /** a 全网发布 test account: stored, never delivered (wechat-protocol.md §8) */
  releaseTest: boolean;
}

export type StoreOutcome =
  | { result: 'stored'; pushId: string; eventId: string | null }
  | { result: 'duplicate' }
  /** the decrypted ToUserName is not the stored user_name of the path appid: nothing stored */
  | { result: 'rejected_recipient' };

/*
 * One statement reads who holds each appid (now: the holder at arrival decides, http-api.md §2), drops the
 * pushes whose ToUserName is not that appid's user_name, and inserts the rest once, each with its event id
 * when the appid is held: every round trip saved shortens every push's acknowledgement. unnest keeps one
 * prepared statement whatever the batch size; ORDER BY takes the unique-index locks in one order, so two
 * batches racing on the same keys (a WeChat retry meeting its original) wait instead of deadlocking.
 */
const INSERT_PUSHES = `WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::int[], $10::text[], $11::text[], $12::text[])
    AS u(id, appid, dedupe_key, to_user_name, openid, msg_type, event, msg_id, create_time, raw, event_id, release_test)
), holders AS (
  SELECT appid, tenant_id, user_name, status FROM authorizers WHERE appid = ANY($13::text[])
), accepted AS (
  SELECT i.*, CASE WHEN h.status = 'authorized' AND i.release_test = 'no' THEN h.tenant_id END AS holder
  FROM input i LEFT JOIN holders h ON h.appid = i.appid
  WHERE h.user_name IS NULL OR h.user_name = i.to_user_name
), inserted AS (
  INSERT INTO pushes (id, appid, dedupe_key, tenant_id, to_user_name, openid, msg_type, event, msg_id,
    create_time, raw, event_id, received_at)
  SELECT id, appid, dedupe_key, holder, to_user_name, openid, msg_type, event, msg_id, create_time, raw::jsonb,
    CASE WHEN holder IS NOT NULL THEN event_id END, $14
  FROM accepted ORDER BY appid, dedupe_key
  ON CONFLICT (appid, dedupe_key) DO NOTHING
  RETURNING id, tenant_id
)
SELECT i.id, a.id IS NULL AS rejected, ins.id IS NOT NULL AS inserted, ins.tenant_id
FROM input i LEFT JOIN accepted a ON a.id = i.id LEFT JOIN inserted ins ON ins.id = i.id`;

// The event of each new push of a held appid: the push INSERT before it (same transaction) wrote the push with
// its event id only then, so the join keeps exactly those; the tenant is the one that statement recorded.
const INSERT_EVENTS_OF_PUSHES = `INSERT INTO events (id, tenant_id, appid, type, data, created_at)
SELECT u.id, p.tenant_id, p.appid, u.type, u.data::jsonb, $5
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, push_id, type, data)
JOIN pushes p ON p.id = u.push_id AND p.event_id = u.id`;

interface Candidate {
  index: number;
  pushId: string;
  eventId: string;
  item: PushToStore;
}

interface InsertRow {
  id: string;
  rejected: boolean;
  inserted: boolean;
  tenant_id: string | null;
}

/**
 * One transaction for a whole batch: each push stored once (a duplicate of a stored push, or of another push in
 * the batch, adds nothing), and for each new push of an appid a tenant holds at this moment its event, the
 * deliveries of that event (outbox) and the send-window update. Returns one outcome per item, in order; throws
 * (and stores nothing) when the transaction fails.
 */
export async function storePushes(deps: Deps, items: readonly PushToStore[]): Promise<StoreOutcome[]> {
  const now = deps.clock.now();
  const ms = now.getTime();
  // A repeat inside the batch shares the fate of its first occurrence (ToUserName is part of the key, so a
  // forged copy with another ToUserName is judged on its own).
  const firstOfKey = new Map<string, Candidate>();
  const sameAs: (Candidate | undefined)[] = [];
  const candidates: Candidate[] = [];
  items.forEach((item, index) => {
    const key = `${item.appid}\u0000${item.push.toUserName ?? ''}\u0000${item.push.dedupeKey}`;
    const first = firstOfKey.get(key);
    if (first) {
      sameAs[index] = first;
      return;
    }
    const candidate = { index, pushId: newId('psh', ms), eventId: newId('evt', ms), item };
    firstOfKey.set(key, candidate);
    candidates.push(candidate);
  });

  const outcomes: StoreOutcome[] = new Array(items.length);
  const postgres = deps.db.kind === 'postgres';
  const created = await deps.db.transaction(async (q) => {
    // The event INSERT and the endpoint read depend on the push INSERT only through the rows it wrote, so on
    // PostgreSQL all three go out at once, pipelined in order on the transaction's connection: one round trip
    // instead of three. PGlite runs one query at a time.
    const pushIds = candidates.map((c) => c.pushId);
    const insertPushes = () => q<InsertRow>(INSERT_PUSHES, pushColumns(candidates, now));
    const insertEvents = () => q(INSERT_EVENTS_OF_PUSHES, eventColumns(candidates, now));
    const readEndpoints = () => endpointsForPushes(q, pushIds);
    let rows: InsertRow[];
    let endpoints: Awaited<ReturnType<typeof endpointsForPushes>>;
    if (postgres) [rows, , endpoints] = await Promise.all([insertPushes(), insertEvents(), readEndpoints()]);
    else {
      rows = await insertPushes();
      await insertEvents();
      endpoints = await readEndpoints();
    }
    const byId = new Map(rows.map((r) => [r.id, r]));
    const events: NewEvent[] = [];
    const actions: InboundAction[] = [];
    for (const c of candidates) {
      const row = byId.get(c.pushId) as InsertRow;
      if (row.rejected) outcomes[c.index] = { result: 'rejected_recipient' };
      else if (!row.inserted) outcomes[c.index] = { result: 'duplicate' };
      else if (row.tenant_id === null)
        outcomes[c.index] = { result: 'stored', pushId: c.pushId, eventId: null };
      else {
        const { push } = c.item;
        outcomes[c.index] = { result: 'stored', pushId: c.pushId, eventId: c.eventId };
        events.push({
          id: c.eventId,
          tenantId: row.tenant_id,
          appid: c.item.appid,
          type: push.eventType,
          data: push.data,
        });
        if (push.windowAction !== null) {
          actions.push({
            appid: c.item.appid,
            openid: push.openid,
            action: push.windowAction,
            createTime: push.createTime,
            receivedAt: now,
          });
        }
      }
    }
    if (events.length === 0) return 0;
    const eventIds = events.map((e) => e.id as string);
    const enqueue = () => enqueueDeliveries(q, events, eventIds, endpoints, now);
    const windows = () =>
      actions.length > 0 ? recordInboundActions(q, actions, deps.config.sendWindow) : Promise.resolve();
    // The NOTIFY rides in the transaction too (delivered at commit), instead of a round trip after it.
    if (postgres) await Promise.all([enqueue(), windows(), notifyOnCommit(q)]);
    else {
      await enqueue();
      await windows();
    }
    return events.length;
  });
  items.forEach((_, index) => {
    const first = sameAs[index];
    if (!first) return;
    const firstOutcome = outcomes[first.index] as StoreOutcome;
    outcomes[index] = firstOutcome.result === 'stored' ? { result: 'duplicate' } : firstOutcome;
  });
  if (created > 0) {
    if (postgres) countCreatedEvents(deps);
    else notifyDeliveries(deps);
  }
  return outcomes;
}

function eventColumns(candidates: Candidate[], now: Date): unknown[] {
  return [
    candidates.map((c) => c.eventId),
    candidates.map((c) => c.pushId),
    candidates.map((c) => c.item.push.eventType),
    candidates.map((c) => JSON.stringify(c.item.push.data)),
    now,
  ];
}

function pushColumns(candidates: Candidate[], now: Date): unknown[] {
  const columns: unknown[][] = Array.from({ length: 12 }, () => []);
  for (const c of candidates) {
    const p = c.item.push;
    const row = [
      c.pushId,
      c.item.appid,
      p.dedupeKey,
      p.toUserName,
      p.openid,
      p.msgType,
      p.event,
      p.msgId,
      p.createTime,
      JSON.stringify(p.raw),
      c.eventId,
      // as text: postgres.js cannot send a boolean[] parameter
      c.item.releaseTest ? 'yes' : 'no',
    ];
    row.forEach((value, i) => {
      (columns[i] as unknown[]).push(value);
    });
  }
  return [...columns, [...new Set(candidates.map((c) => c.item.appid))], now];
}
