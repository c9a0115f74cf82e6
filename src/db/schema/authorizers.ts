import { boolean, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { tenants, ts } from './tenants.js';

export const authorizationLinks = pgTable(
  'authorization_links',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** SHA-256 of the token in the link URL */
    tokenHash: text('token_hash').notNull().unique(),
    returnUrl: text('return_url'),
    appid: text('appid'),
    mobile: boolean('mobile').notNull().default(false),
    expiresAt: ts('expires_at').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('authorization_links_tenant_idx').on(t.tenantId, t.id)],
);

/** Pre-auth codes minted by link views: PreAuthCode in the authorized event maps back to the link. */
export const preAuthCodes = pgTable('pre_auth_codes', {
  codeHash: text('code_hash').primaryKey(),
  linkId: text('link_id')
    .notNull()
    .references(() => authorizationLinks.id, { onDelete: 'cascade' }),
  tenantId: text('tenant_id').notNull(),
  expiresAt: ts('expires_at').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/** Each authorization code is exchanged once; the later of redirect and event finds it here. */
export const authCodes = pgTable('auth_codes', {
  codeHash: text('code_hash').primaryKey(),
  authorizerAppid: text('authorizer_appid'),
  tenantId: text('tenant_id'),
  linkId: text('link_id'),
  /** which event completing this code emits (decided from the authorizer's state when the code was exchanged) */
  eventType: text('event_type'),
  createdAt: ts('created_at').notNull().defaultNow(),
  completedAt: ts('completed_at'),
});

export const authorizers = pgTable(
  'authorizers',
  {
    appid: text('appid').primaryKey(),
    /** null: held by no tenant (release-test accounts, or a code whose link is unknown) */
    tenantId: text('tenant_id').references(() => tenants.id, { onDelete: 'set null' }),
    userName: text('user_name'),
    nickname: text('nickname'),
    headImg: text('head_img'),
    /** pending | authorized | unauthorized | reauthorization_required */
    status: text('status').notNull().default('pending'),
    permissions: integer('permissions').array().notNull().default([]),
    accessTokenEnc: text('access_token_enc'),
    accessTokenExpiresAt: ts('access_token_expires_at'),
    /** when the stored token was received: its lifetime scales the refresh margins (wechat-protocol.md §3.9) */
    accessTokenIssuedAt: ts('access_token_issued_at'),
    tokenVersion: integer('token_version').notNull().default(0),
    refreshTokenEnc: text('refresh_token_enc'),
    leaseUntil: ts('lease_until'),
    leaseOwner: text('lease_owner'),
    lastError: text('last_error'),
    authorizedAt: ts('authorized_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('authorizers_tenant_idx').on(t.tenantId, t.appid),
    index('authorizers_expiry_idx').on(t.accessTokenExpiresAt),
    /** ingest refuses a push whose ToUserName is another appid's (one replayed to another path) */
    index('authorizers_user_name_idx').on(t.userName),
  ],
);
