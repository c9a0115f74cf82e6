import { integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { ts } from './tenants.js';

/**
 * One row per component appid: the newest verify ticket and the component access token, both encrypted,
 * with the refresh lease that makes refreshing single-flight across instances.
 */
export const componentState = pgTable('component_state', {
  componentAppid: text('component_appid').primaryKey(),
  ticketEnc: text('ticket_enc'),
  ticketCreateTime: integer('ticket_create_time'),
  ticketReceivedAt: ts('ticket_received_at'),
  accessTokenEnc: text('access_token_enc'),
  accessTokenExpiresAt: ts('access_token_expires_at'),
  /** when the stored token was received: its lifetime scales the refresh margins (wechat-protocol.md §3.9) */
  accessTokenIssuedAt: ts('access_token_issued_at'),
  /** bumped on every stored token: compare-and-expire matches on it */
  tokenVersion: integer('token_version').notNull().default(0),
  leaseUntil: ts('lease_until'),
  leaseOwner: text('lease_owner'),
  lastError: text('last_error'),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Every decrypted component event, stored once by its dedupe key (wechat-protocol.md §2.3). */
export const componentEvents = pgTable('component_events', {
  id: text('id').primaryKey(),
  dedupeKey: text('dedupe_key').notNull().unique(),
  infoType: text('info_type').notNull(),
  authorizerAppid: text('authorizer_appid'),
  createTime: integer('create_time'),
  /** the decrypted fields, with tickets and codes removed (they are secrets) */
  payload: jsonb('payload').$type<Record<string, string>>().notNull(),
  receivedAt: ts('received_at').notNull().defaultNow(),
  processedAt: ts('processed_at'),
  error: text('error'),
});
