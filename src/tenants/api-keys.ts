import { timingSafeEqual } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { apiKeys } from '../db/schema/index.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { newId } from '../ids.js';
import { lookupHash, randomToken } from '../secrets.js';
import { getTenant } from './service.js';

export interface CreatedApiKey {
  id: string;
  name: string | null;
  key: string;
  createdAt: string;
}

const KEY_SHAPE = /^kr_[A-Za-z0-9_-]{32,64}$/;

/** Creates a key `kr_` + 32 random bytes; only its HMAC is stored, the key is returned this once. */
export async function createApiKey(
  deps: Deps,
  tenantId: string,
  name: string | null,
): Promise<CreatedApiKey> {
  await getTenant(deps, tenantId);
  const key = `kr_${randomToken(32)}`;
  const now = deps.clock.now();
  const [row] = await deps.db.orm
    .insert(apiKeys)
    .values({
      id: newId('key', now.getTime()),
      tenantId,
      name,
      keyHash: lookupHash(deps.keys.apiKeyHash, key),
      prefix: key.slice(0, 7),
      createdAt: now,
    })
    .returning();
  return { id: row!.id, name: row!.name, key, createdAt: row!.createdAt.toISOString() };
}

export async function revokeApiKey(deps: Deps, tenantId: string, keyId: string): Promise<void> {
  const rows = await deps.db.orm
    .update(apiKeys)
    .set({ revokedAt: deps.clock.now() })
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  if (rows.length > 0) return;
  // Revoking twice is fine; an unknown key (or another tenant's) is not.
  const [existing] = await deps.db.orm
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId)));
  if (!existing) throw notFound('API key');
}

/** The tenant id behind a live key, or null. The lookup is by keyed hash; the final compare is constant time. */
export async function authenticateApiKey(deps: Deps, key: string): Promise<string | null> {
  if (!KEY_SHAPE.test(key)) return null;
  const hash = lookupHash(deps.keys.apiKeyHash, key);
  const rows = await deps.db.query<{ tenant_id: string; key_hash: string }>(
    'select tenant_id, key_hash from api_keys where key_hash = $1 and revoked_at is null',
    [hash],
  );
  const row = rows[0];
  if (!row) return null;
  const a = Buffer.from(row.key_hash);
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b) ? row.tenant_id : null;
}
