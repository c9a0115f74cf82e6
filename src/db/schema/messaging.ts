import { index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { ts } from './tenants.js';

/** Send-window state per (appid, openid), written by ingest and consumed atomically by the reply API. */
export const conversations = pgTable(
  'conversations',
  {
    appid: text('appid').notNull(),
    openid: text('openid').notNull(),
    remaining: integer('remaining').notNull().default(0),
    /** the window closes at this instant (exclusive); null: no qualifying action yet */
    deadline: ts('deadline'),
    lastInboundAt: ts('last_inbound_at'),
    lastOutboundAt: ts('last_outbound_at'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.appid, t.openid] })],
);

/** Outbound messages sent through the reply API, with WeChat's answer. Inbound ones are `pushes`. */
export const outboundMessages = pgTable(
  'outbound_messages',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    appid: text('appid').notNull(),
    openid: text('openid').notNull(),
    type: text('type').notNull(),
    body: jsonb('body').$type<Record<string, unknown>>().notNull(),
    /** sent | failed */
    status: text('status').notNull(),
    wechatErrcode: integer('wechat_errcode'),
    wechatErrmsg: text('wechat_errmsg'),
    createdAt: ts('created_at').notNull().defaultNow(),
    sentAt: ts('sent_at'),
  },
  (t) => [index('outbound_messages_conversation_idx').on(t.appid, t.openid, t.id)],
);

/** Idempotency-Key records, shared by all instances, kept 24 h. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    tenantId: text('tenant_id').notNull(),
    key: text('key').notNull(),
    /** SHA-256 of method, path and body */
    requestHash: text('request_hash').notNull(),
    /** in_progress | done */
    state: text('state').notNull(),
    responseStatus: integer('response_status'),
    responseBody: text('response_body'),
    /** an in_progress row whose owner died may be taken over after this */
    lockedUntil: ts('locked_until'),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] }), index('idempotency_keys_expiry_idx').on(t.expiresAt)],
);
