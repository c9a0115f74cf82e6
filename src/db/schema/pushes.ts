import { index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { ts } from './tenants.js';

/** Every authorizer push, stored once per (appid, dedupe key) before WeChat is answered. */
export const pushes = pgTable(
  'pushes',
  {
    id: text('id').primaryKey(),
    appid: text('appid').notNull(),
    /** MsgId for messages, FromUserName|CreateTime|Event for events */
    dedupeKey: text('dedupe_key').notNull(),
    /** the tenant that held the appid when the push arrived (null: nobody; stored, not delivered) */
    tenantId: text('tenant_id'),
    toUserName: text('to_user_name'),
    openid: text('openid'),
    msgType: text('msg_type'),
    event: text('event'),
    msgId: text('msg_id'),
    createTime: integer('create_time'),
    raw: jsonb('raw').$type<Record<string, string>>().notNull(),
    eventId: text('event_id'),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('pushes_dedupe_idx').on(t.appid, t.dedupeKey),
    index('pushes_conversation_idx').on(t.appid, t.openid, t.id),
  ],
);
