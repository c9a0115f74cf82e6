import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { events } from './events.js';
import { tenants, ts } from './tenants.js';

export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    description: text('description').notNull().default(''),
    eventTypes: text('event_types').array(),
    appids: text('appids').array(),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    secretEnc: text('secret_enc').notNull(),
    /**
     * Every secret rotated away in the last 24 h, newest first, each signing until its expiresAt: two
     * rotations in a day leave both old secrets working (at most five are kept).
     */
    previousSecrets: jsonb('previous_secrets')
      .$type<{ secretEnc: string; expiresAt: string }[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    /**
     * The newest of previous_secrets, still written for instances of the version before it during a rolling
     * upgrade; nothing reads it. A later migration drops it.
     */
    previousSecretEnc: text('previous_secret_enc'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    /** start of the current run of failed attempts (null after any success) */
    failingSince: ts('failing_since'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [index('webhook_endpoints_tenant_idx').on(t.tenantId, t.id)],
);

/** The outbox: one row per (event, endpoint), claimed by workers under a lease. */
export const deliveries = pgTable(
  'deliveries',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    eventId: text('event_id')
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    endpointId: text('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    /** pending | succeeded | failed */
    status: text('status').notNull().default('pending'),
    attemptCount: integer('attempt_count').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at'),
    leaseUntil: ts('lease_until'),
    /** set by each claim; completing must match it, so a stale worker cannot touch a reclaimed job */
    leaseToken: text('lease_token'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // the claim walks it per endpoint (delivery/queue.ts); the queue gauges read it whole
    index('deliveries_pending_idx').on(t.endpointId, t.nextAttemptAt).where(sql`status = 'pending'`),
    index('deliveries_tenant_idx').on(t.tenantId, t.id),
    index('deliveries_event_idx').on(t.eventId),
    index('deliveries_endpoint_idx').on(t.endpointId, t.id),
  ],
);

export const deliveryAttempts = pgTable(
  'delivery_attempts',
  {
    id: text('id').primaryKey(),
    deliveryId: text('delivery_id')
      .notNull()
      .references(() => deliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    at: ts('at').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
    /** first 1 KiB */
    responseBody: text('response_body'),
  },
  (t) => [index('delivery_attempts_delivery_idx').on(t.deliveryId, t.at)],
);
