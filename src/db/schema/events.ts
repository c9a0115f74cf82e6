import { index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tenants, ts } from './tenants.js';

/** What tenants receive: one row per event, delivered to each matching endpoint through `deliveries`. */
export const events = pgTable(
  'events',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    appid: text('appid').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('events_tenant_idx').on(t.tenantId, t.id),
    index('events_tenant_appid_idx').on(t.tenantId, t.appid, t.id),
    index('events_tenant_created_idx').on(t.tenantId, t.createdAt),
  ],
);
