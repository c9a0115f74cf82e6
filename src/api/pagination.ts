import { z } from '@hono/zod-openapi';

/**
 * Lists page on the id: ids sort by creation time, so "newest first" is `id desc` and the cursor is the last id
 * of the page, wrapped so clients treat it as opaque. Anything not of that form is a 422, and so is a cursor
 * another list issued (its id has another prefix): it would silently give an empty or a restarted page.
 */
export const CURSOR_PREFIX = 'c1:';

export function encodeCursor(id: string): string {
  return Buffer.from(CURSOR_PREFIX + id).toString('base64url');
}

/** The id a cursor holds, or null when it is no cursor (of a list whose ids start with one of `prefixes`). */
export function decodeCursor(cursor: string, prefixes?: readonly string[]): string | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(CURSOR_PREFIX)) return null;
  const id = text.slice(CURSOR_PREFIX.length);
  if (!/^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return null;
  return !prefixes || prefixes.includes(id.slice(0, 3)) ? id : null;
}

/** `limit` and `cursor` of a list whose ids start with one of `prefixes` (`evt`, or `psh` and `msg`, …). */
export const listQuery = (...prefixes: string[]) =>
  z.object({
    limit: z
      .string()
      .regex(/^\d+$/, 'must be a whole number from 1 to 100')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 100, 'must be a whole number from 1 to 100')
      .optional()
      .openapi({
        param: { name: 'limit', in: 'query' },
        type: 'integer',
        minimum: 1,
        maximum: 100,
        default: 20,
        example: 20,
      }),
    cursor: z
      .string()
      .refine((c) => decodeCursor(c, prefixes) !== null, 'is not a cursor this list issued')
      .optional()
      .openapi({ param: { name: 'cursor', in: 'query' } }),
  });

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  /** the id to continue below, already decoded */
  before: string | null;
}

export function pageRequest(q: { limit?: number | undefined; cursor?: string | undefined }): PageRequest {
  return { limit: q.limit ?? 20, before: q.cursor ? decodeCursor(q.cursor) : null };
}

/** Given `limit + 1` rows fetched newest first, the page and its cursor. */
export function toPage<R extends { id: string }, T>(
  rows: R[],
  limit: number,
  render: (row: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { data: kept.map(render), nextCursor: more && last ? encodeCursor(last.id) : null };
}

export const pageSchema = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });
