import type { Query } from '../db/client.js';
import { enqueueEvents, type NewEvent, notifyDeliveries } from '../delivery/outbox.js';
import type { Deps } from '../deps.js';
import { newId } from '../ids.js';
import { type InboundAction, recordInboundActions } from '../messaging/conversations.js';
import { type AuthorizerRecord, findAuthorizer } from '../onboarding/authorizers.js';
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

// unnest keeps one prepared statement whatever the batch size; ORDER BY takes the unique-index locks in one
// order, so two batches racing on the same keys (a WeChat retry meeting its original) wait instead of deadlocking.
const INSERT_PUSHES = `INSERT INTO pushes
  (id, appid, dedupe_key, tenant_id, to_user_name, openid, msg_type, event, msg_id, create_time, raw, received_at)
SELECT u.id, u.appid, u.dedupe_key, u.tenant_id, u.to_user_name, u.openid, u.msg_type, u.event, u.msg_id,
  u.create_time, u.raw::jsonb, $12
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::int[], $11::text[])
  AS u(id, appid, dedupe_key, tenant_id, to_user_name, openid, msg_type, event, msg_id, create_time, raw)
ORDER BY u.appid, u.dedupe_key
ON CONFLICT (appid, dedupe_key) DO NOTHING
RETURNING id`;

const LINK_EVENTS = `UPDATE pushes SET event_id = u.event_id
FROM unnest($1::text[], $2::text[]) AS u(id, event_id) WHERE pushes.id = u.id`;

interface Candidate {
  index: number;
  id: string;
  item: PushToStore;
  tenantId: string | null;
}

/**
 * One transaction for a whole batch: each push stored once (a duplicate of a stored push, or of another push in
 * the batch, adds nothing), and for each new push of an appid a tenant holds at this moment its event, the
 * deliveries of that event (outbox) and the send-window update. Returns one outcome per item, in order; throws
 * (and stores nothing) when the transaction fails.
 */
export async function storePushes(deps: Deps, items: readonly PushToStore[]): Promise<StoreOutcome[]> {
  const now = deps.clock.now();
  const outcomes: StoreOutcome[] = new Array(items.length);
  const created = await deps.db.transaction(async (q) => {
    const holders = await readHolders(q, items);
    const firstOfKey = new Map<string, Candidate>();
    const duplicatesInBatch: number[] = [];
    const candidates: Candidate[] = [];
    items.forEach((item, index) => {
      const authorizer = holders.get(item.appid);
      if (authorizer?.userName && authorizer.userName !== item.push.toUserName) {
        outcomes[index] = { result: 'rejected_recipient' };
        return;
      }
      const key = `${item.appid}\u0000${item.push.dedupeKey}`;
      if (firstOfKey.has(key)) {
        duplicatesInBatch.push(index);
        return;
      }
      const held = !item.releaseTest && authorizer?.status === 'authorized' ? authorizer.tenantId : null;
      const candidate = { index, id: newId('psh', now.getTime()), item, tenantId: held };
      firstOfKey.set(key, candidate);
      candidates.push(candidate);
    });
    for (const index of duplicatesInBatch) outcomes[index] = { result: 'duplicate' };
    if (candidates.length === 0) return 0;

    const inserted = new Set(
      (await q<{ id: string }>(INSERT_PUSHES, pushColumns(candidates, now))).map((r) => r.id),
    );
    const fresh = candidates.filter((c) => inserted.has(c.id));
    for (const c of candidates) if (!inserted.has(c.id)) outcomes[c.index] = { result: 'duplicate' };
    const delivered = fresh.filter((c) => c.tenantId !== null);
    for (const c of fresh)
      if (c.tenantId === null) outcomes[c.index] = { result: 'stored', pushId: c.id, eventId: null };
    if (delivered.length === 0) return 0;

    const events: NewEvent[] = delivered.map((c) => ({
      tenantId: c.tenantId as string,
      appid: c.item.appid,
      type: c.item.push.eventType,
      data: c.item.push.data,
    }));
    const { eventIds } = await enqueueEvents(q, events, now);
    await q(LINK_EVENTS, [delivered.map((c) => c.id), eventIds]);
    delivered.forEach((c, i) => {
      outcomes[c.index] = { result: 'stored', pushId: c.id, eventId: eventIds[i] as string };
    });
    const actions: InboundAction[] = [];
    for (const c of delivered) {
      const action = c.item.push.windowAction;
      if (action === null) continue;
      actions.push({
        appid: c.item.appid,
        openid: c.item.push.openid,
        action,
        createTime: c.item.push.createTime,
        receivedAt: now,
      });
    }
    if (actions.length > 0) await recordInboundActions(q, actions, deps.config.sendWindow);
    return delivered.length;
  });
  if (created > 0) notifyDeliveries(deps);
  return outcomes;
}

/** Who holds each appid of the batch right now (the holder at arrival decides, http-api.md §2). */
async function readHolders(q: Query, items: readonly PushToStore[]): Promise<Map<string, AuthorizerRecord>> {
  const appids = [...new Set(items.map((i) => i.appid))];
  const found = await Promise.all(appids.map((appid) => findAuthorizer(q, appid)));
  const holders = new Map<string, AuthorizerRecord>();
  for (const record of found) if (record) holders.set(record.appid, record);
  return holders;
}

function pushColumns(candidates: Candidate[], now: Date): unknown[] {
  const columns: unknown[][] = Array.from({ length: 11 }, () => []);
  for (const c of candidates) {
    const p = c.item.push;
    const row = [
      c.id,
      c.item.appid,
      p.dedupeKey,
      c.tenantId,
      p.toUserName,
      p.openid,
      p.msgType,
      p.event,
      p.msgId,
      p.createTime,
      JSON.stringify(p.raw),
    ];
    row.forEach((value, i) => {
      (columns[i] as unknown[]).push(value);
    });
  }
  return [...columns, now];
}
