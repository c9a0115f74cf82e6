import type { Query } from '../db/client.js';

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

/*
 * A sent message and its effect on the conversation in one statement (one round trip on the hot path):
 * last_outbound_at moves forward, and when the window is not enforced (nothing was taken before the call)
 * the successful send still uses one message of the allowance, never below zero (wechat-protocol.md §7).
 */
const RECORD_SENT = `
with m as (
  insert into outbound_messages (id, tenant_id, appid, openid, type, body, status, created_at, sent_at)
  values ($1, $2, $3, $4, $5, $6::jsonb, 'sent', $7, $8)
)
insert into conversations as c (appid, openid, remaining, deadline, last_outbound_at, updated_at)
values ($3, $4, 0, null, $8, $8)
on conflict (appid, openid) do update set
  remaining = case when $9::boolean then greatest(c.remaining - 1, 0) else c.remaining end,
  last_outbound_at = greatest(c.last_outbound_at, excluded.last_outbound_at),
  updated_at = greatest(c.updated_at, excluded.updated_at)`;

export async function recordSent(
  q: Query,
  m: OutboundRecord,
  sentAt: Date,
  opts: { decrement: boolean },
): Promise<void> {
  await q(RECORD_SENT, [
    m.id,
    m.tenantId,
    m.appid,
    m.openid,
    m.type,
    JSON.stringify(m.body),
    m.createdAt,
    sentAt,
    opts.decrement,
  ]);
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
