import type { Query } from '../db/client.js';
import { limitFor, type UserAction, type WindowLimits, type WindowState } from './window.js';

export interface InboundAction {
  appid: string;
  openid: string;
  action: UserAction;
  /** the push's CreateTime, unix seconds */
  createTime: number;
  /** when kefu-relay stored the push (last_inbound_at) */
  receivedAt: Date;
}

/*
 * applyAction of window.ts in one INSERT … ON CONFLICT DO UPDATE, so concurrent pushes for one user serialise
 * on the row lock and none is lost. `source` names a relation of the statement with the columns (appid,
 * openid, n, t, d, received_at): the allowance, the action time and the deadline (unix seconds), and when the
 * push was stored; each (appid, openid) appears in it once. The action time `t` is not a column of
 * conversations, so the SET reads it back from `source`. `deadline > t` is NULL when there is no deadline yet,
 * which takes the ELSE branch: the spec's "no state = (0, −∞)". GREATEST ignores NULLs. Ingest runs this as a
 * CTE of its storing statement (ingest/store.ts); recordInboundActions on its own.
 */
export function upsertWindowsSql(source: string): string {
  return `insert into conversations as c (appid, openid, remaining, deadline, last_inbound_at, updated_at)
select appid, openid, n, to_timestamp(d), received_at, received_at from ${source}
order by appid, openid
on conflict (appid, openid) do update set
  remaining = case
    when c.deadline > (select to_timestamp(i.t) from ${source} i where i.appid = excluded.appid and i.openid = excluded.openid)
      then greatest(c.remaining, excluded.remaining)
    else excluded.remaining
  end,
  deadline = greatest(c.deadline, excluded.deadline),
  last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at),
  updated_at = greatest(c.updated_at, excluded.updated_at)`;
}

// The rows travel as one JSON parameter (no driver-specific array binding; one prepared statement for any size).
const UPSERT = `with input as (
  select * from jsonb_to_recordset($1::jsonb)
    as u(appid text, openid text, n int, t float8, d float8, received_at timestamptz)
)
${upsertWindowsSql('input')}`;

/**
 * Inside the caller's transaction (ingest's storing transaction): records one qualifying user action on the
 * send window of (appid, openid) and sets last_inbound_at.
 */
export async function recordInboundAction(
  q: Query,
  input: InboundAction,
  limits: WindowLimits,
): Promise<void> {
  await recordInboundActions(q, [input], limits);
}

/**
 * A statement cannot touch a row twice, so actions of one user apply in input order across statements: the
 * k-th item of each user goes into the k-th round (one round when every user appears once, the usual case).
 * Items without a user (`userOf` → null) go into the first round.
 */
export function roundsByUser<T>(items: readonly T[], userOf: (item: T) => string | null): T[][] {
  const rounds: T[][] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const user = userOf(item);
    const k = user === null ? 0 : (seen.get(user) ?? 0);
    if (user !== null) seen.set(user, k + 1);
    const round = rounds[k];
    if (round) round.push(item);
    else rounds[k] = [item];
  }
  return rounds;
}

/** The user of a window row: rows of one user go to different statements (roundsByUser). */
export const windowUser = (appid: string, openid: string): string => `${appid}\u0000${openid}`;

/**
 * The batch form: one statement per round of roundsByUser, rows written in key order so concurrent batches
 * cannot deadlock.
 */
export async function recordInboundActions(
  q: Query,
  inputs: readonly InboundAction[],
  limits: WindowLimits,
): Promise<void> {
  for (const round of roundsByUser(inputs, (i) => windowUser(i.appid, i.openid))) {
    const rows = round.map((input) => {
      const { count, seconds } = limitFor(input.action, limits);
      return {
        appid: input.appid,
        openid: input.openid,
        n: count,
        t: input.createTime,
        d: input.createTime + seconds,
        received_at: input.receivedAt.toISOString(),
      };
    });
    await q(UPSERT, [JSON.stringify(rows)]);
  }
}

export interface ConversationRow {
  remaining: number;
  deadline: Date | null;
  lastInboundAt: Date | null;
  lastOutboundAt: Date | null;
}

export async function readConversation(
  q: Query,
  appid: string,
  openid: string,
): Promise<ConversationRow | null> {
  const rows = await q<ConversationRow>(
    `select remaining, deadline, last_inbound_at as "lastInboundAt", last_outbound_at as "lastOutboundAt"
       from conversations where appid = $1 and openid = $2`,
    [appid, openid],
  );
  return rows[0] ?? null;
}

/** The row as window.ts state; deadlines are whole seconds (CreateTime + window). */
export function toWindowState(
  row: Pick<ConversationRow, 'remaining' | 'deadline'> | null,
): WindowState | null {
  if (!row) return null;
  return { remaining: row.remaining, deadline: row.deadline ? row.deadline.getTime() / 1000 : null };
}
