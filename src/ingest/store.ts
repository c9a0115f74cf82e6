import { DELIVERIES_CHANNEL, type EventType } from '../delivery/outbox.js';
import type { Deps } from '../deps.js';
import { newId } from '../ids.js';
import { roundsByUser, upsertWindowsSql, windowUser } from '../messaging/conversations.js';
import { limitFor } from '../messaging/window.js';
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
  /** the decrypted ToUserName is not the stored user_name of the path appid, or is another's: nothing stored */
  | { result: 'rejected_recipient' };

/*
 * A whole batch is one statement, so one round trip and one implicit transaction (one commit) store it: every
 * round trip saved shortens every push's acknowledgement. It reads who holds each appid (now: the holder at
 * arrival decides, http-api.md §2), drops the pushes whose ToUserName is not that appid's user_name (or, for
 * an appid of unknown user_name, is another mini-program's: a push replayed to another path), inserts
 * the rest once, and for each new push of a held appid (release-test accounts excepted) its event, one pending
 * delivery per enabled endpoint of the tenant whose filters match (the outbox: an event never without its
 * deliveries), and the send-window update. The NOTIFY that wakes the workers is sent at commit, only when
 * there are deliveries, naming their endpoints (up to 200, else empty: "look everywhere"; a payload holds
 * 8000 bytes), so that a worker whose slots for them are full need not claim; the final SELECT reads `wake`
 * because a SELECT in WITH runs only when read. The CTEs read each other's RETURNING rows only, never a table another one
 * writes (one snapshot for all). The input is one JSON parameter, so one prepared statement serves every batch
 * size; ORDER BY takes the unique-index locks in one order, so two batches racing on the same keys (a WeChat
 * retry meeting its original) wait instead of deadlocking. A delivery id is the event's time part and a digest
 * of (event, endpoint): unique, and sorted by creation time to the millisecond like the ids newId makes.
 */
const STORE_PUSHES = `WITH input AS (
  SELECT * FROM json_to_recordset($1::json)
    AS u(id text, appid text, dedupe_key text, to_user_name text, openid text, msg_type text, event text,
      msg_id text, create_time int, event_id text, release_test boolean, event_type text, data jsonb, n int,
      t float8, d float8)
), holders AS (
  SELECT appid, tenant_id, user_name, status FROM authorizers WHERE appid IN (SELECT appid FROM input)
), accepted AS (
  SELECT i.*, CASE WHEN h.status = 'authorized' AND NOT i.release_test THEN h.tenant_id END AS holder
  FROM input i LEFT JOIN holders h ON h.appid = i.appid
  WHERE h.user_name = i.to_user_name OR (h.user_name IS NULL AND NOT EXISTS (
    SELECT 1 FROM authorizers o WHERE o.user_name = i.to_user_name AND o.appid <> i.appid))
), inserted AS (
  INSERT INTO pushes (id, appid, dedupe_key, tenant_id, to_user_name, openid, msg_type, event, msg_id,
    create_time, raw, event_id, received_at)
  SELECT id, appid, dedupe_key, holder, to_user_name, openid, msg_type, event, msg_id, create_time, data->'raw',
    CASE WHEN holder IS NOT NULL THEN event_id END, $2
  FROM accepted ORDER BY appid, dedupe_key
  ON CONFLICT (appid, dedupe_key) DO NOTHING
  RETURNING id, tenant_id
), held AS (
  SELECT i.*, ins.tenant_id FROM inserted ins JOIN input i ON i.id = ins.id WHERE ins.tenant_id IS NOT NULL
), new_events AS (
  INSERT INTO events (id, tenant_id, appid, type, data, created_at)
  SELECT event_id, tenant_id, appid, event_type, data, $2 FROM held
  RETURNING id, tenant_id, appid, type
), endpoints AS (
  SELECT id, tenant_id, event_types, appids FROM webhook_endpoints
  WHERE tenant_id IN (SELECT tenant_id FROM held) AND enabled FOR KEY SHARE
), new_deliveries AS (
  INSERT INTO deliveries
    (id, tenant_id, event_id, endpoint_id, status, attempt_count, next_attempt_at, created_at, updated_at)
  SELECT 'dlv_' || substr(e.id, 5, 10) || upper(substr(md5(e.id || ep.id), 1, 16)), e.tenant_id, e.id, ep.id,
    'pending', 0, $2, $2, $2
  FROM new_events e JOIN endpoints ep ON ep.tenant_id = e.tenant_id
    AND (ep.event_types IS NULL OR e.type = ANY(ep.event_types))
    AND (ep.appids IS NULL OR e.appid = ANY(ep.appids))
  RETURNING endpoint_id
), windows AS (
  SELECT appid, openid, n, t, d, $2::timestamptz AS received_at FROM held WHERE n IS NOT NULL
), window_updates AS (
  ${upsertWindowsSql('windows')}
), wake AS (
  SELECT pg_notify($3,
    CASE WHEN count(DISTINCT endpoint_id) <= 200 THEN string_agg(DISTINCT endpoint_id, ',') ELSE '' END)
  FROM new_deliveries HAVING count(*) > 0
)
SELECT i.id, a.id IS NULL AS rejected, ins.id IS NOT NULL AS inserted, ins.tenant_id,
  (SELECT count(*) FROM wake)::int AS woken
FROM input i LEFT JOIN accepted a ON a.id = i.id LEFT JOIN inserted ins ON ins.id = i.id`;

interface Candidate {
  index: number;
  pushId: string;
  eventId: string;
  item: PushToStore;
}

interface StoredRow {
  id: string;
  rejected: boolean;
  inserted: boolean;
  tenant_id: string | null;
}

/**
 * Stores a batch: each push once (a duplicate of a stored push, or of another push in the batch, adds
 * nothing), and for each new push of an appid a tenant holds at this moment its event, its deliveries and the
 * send-window update. One statement per round of roundsByUser (one, unless a user has two pushes in the batch),
 * each committed on its own. Returns one outcome per item, in order; throws when a statement fails (the rounds
 * before it stay stored; the caller retries push by push, and stored ones come back as duplicates).
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
  const rounds = roundsByUser(candidates, (c) =>
    c.item.push.windowAction === null ? null : windowUser(c.item.appid, c.item.push.openid),
  );
  for (const round of rounds) {
    const rows = await deps.db.query<StoredRow>(STORE_PUSHES, [
      inputRows(deps, round),
      now,
      DELIVERIES_CHANNEL,
    ]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const created = new Map<EventType, number>();
    for (const c of round) {
      const row = byId.get(c.pushId) as StoredRow;
      if (row.rejected) outcomes[c.index] = { result: 'rejected_recipient' };
      else if (!row.inserted) outcomes[c.index] = { result: 'duplicate' };
      else if (row.tenant_id === null)
        outcomes[c.index] = { result: 'stored', pushId: c.pushId, eventId: null };
      else {
        outcomes[c.index] = { result: 'stored', pushId: c.pushId, eventId: c.eventId };
        const type = c.item.push.eventType;
        created.set(type, (created.get(type) ?? 0) + 1);
      }
    }
    // counted per committed round: a later round that fails does not undo this one
    for (const [type, n] of created) deps.metrics.eventsCreated.inc({ type }, n);
  }
  items.forEach((_, index) => {
    const first = sameAs[index];
    if (!first) return;
    const firstOutcome = outcomes[first.index] as StoreOutcome;
    outcomes[index] = firstOutcome.result === 'stored' ? { result: 'duplicate' } : firstOutcome;
  });
  return outcomes;
}

/**
 * The input of STORE_PUSHES as one JSON parameter: serialized once, natively, where text arrays cost an
 * escaping pass per element in the driver. The push's raw payload travels once, inside the event data
 * (classifyPush puts it there for every kind); the push row takes it back out.
 */
function inputRows(deps: Deps, candidates: readonly Candidate[]): string {
  return JSON.stringify(
    candidates.map((c) => {
      const p = c.item.push;
      const window = p.windowAction === null ? null : limitFor(p.windowAction, deps.config.sendWindow);
      return {
        id: c.pushId,
        appid: c.item.appid,
        dedupe_key: p.dedupeKey,
        to_user_name: p.toUserName,
        openid: p.openid,
        msg_type: p.msgType,
        event: p.event,
        msg_id: p.msgId,
        create_time: p.createTime,
        event_id: c.eventId,
        release_test: c.item.releaseTest,
        event_type: p.eventType,
        data: p.data,
        n: window?.count ?? null,
        t: window ? p.createTime : null,
        d: window ? p.createTime + window.seconds : null,
      };
    }),
  );
}
