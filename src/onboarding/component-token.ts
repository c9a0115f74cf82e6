import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';
import { TOKEN_ERRCODES, WeChatApiError } from '../wechat/errors.js';
import { startPushTicket } from './ticket.js';
import { type CachedToken, type FreshToken, TokenSlot } from './token-slot.js';

/** A ticket is valid 12 hours (wechat-protocol.md §2.1). */
export const TICKET_LIFETIME_MS = 12 * 3600_000;
const TICKET_ERRCODES = new Set([61005, 61006]);

export function componentSlot(deps: Deps): TokenSlot {
  return new TokenSlot(
    deps,
    {
      table: 'component_state',
      keyColumn: 'component_appid',
      kind: 'component',
      missing: () => new AppError('wechat_unavailable', 'The component state is missing'),
    },
    deps.config.wechat.componentAppid,
  );
}

/** The component_state row exists before any lease can be taken on it. */
export async function ensureComponentRow(deps: Deps): Promise<void> {
  await deps.db.query(
    'INSERT INTO component_state (component_appid) VALUES ($1) ON CONFLICT (component_appid) DO NOTHING',
    [deps.config.wechat.componentAppid],
  );
}

/** The newest stored ticket, if it is younger than 12 hours. */
export async function currentTicket(deps: Deps): Promise<string | null> {
  const rows = await deps.db.query<{ ticket_enc: string | null; ticket_received_at: Date | null }>(
    'SELECT ticket_enc, ticket_received_at FROM component_state WHERE component_appid = $1',
    [deps.config.wechat.componentAppid],
  );
  const row = rows[0];
  if (!row?.ticket_enc || !row.ticket_received_at) return null;
  if (deps.clock.now().getTime() - row.ticket_received_at.getTime() >= TICKET_LIFETIME_MS) return null;
  return deps.secrets.decrypt(row.ticket_enc);
}

async function fetchComponentToken(deps: Deps): Promise<FreshToken> {
  const ticket = await currentTicket(deps);
  if (!ticket) {
    void startPushTicket(deps, 'no ticket younger than 12 h when a component token was needed');
    throw new AppError('wechat_unavailable', 'No component_verify_ticket has been received yet');
  }
  const { wechat } = deps.config;
  try {
    const r = await deps.wechat.componentToken({
      componentAppid: wechat.componentAppid,
      componentAppsecret: wechat.componentAppsecret,
      ticket,
    });
    return { token: r.componentAccessToken, expiresIn: r.expiresIn };
  } catch (err) {
    // The ticket is stale or wrong: ask WeChat for a fresh push and let the next push fix it (§3.9).
    if (err instanceof WeChatApiError && TICKET_ERRCODES.has(err.errcode)) {
      deps.log.error({ errcode: err.errcode }, 'component ticket rejected; starting ticket push');
      void startPushTicket(deps, `api_component_token answered ${err.errcode}`);
    }
    throw err;
  }
}

/** A valid component token (single-flight refresh when missing or inside `margin`). */
export async function getComponentToken(
  deps: Deps,
  margin?: (lifetimeMs: number) => number,
): Promise<CachedToken> {
  await ensureComponentRow(deps);
  return componentSlot(deps).get(() => fetchComponentToken(deps), margin);
}

/**
 * Runs call(componentToken); on 40001/40014/42001 expires that token only if it is still the current one,
 * refreshes single-flight and retries once. A second failure is thrown, never looped.
 */
export async function withComponentToken<T>(
  deps: Deps,
  call: (componentToken: string) => Promise<T>,
): Promise<T> {
  const first = await getComponentToken(deps);
  try {
    return await call(first.token);
  } catch (err) {
    if (!(err instanceof WeChatApiError && TOKEN_ERRCODES.has(err.errcode))) throw err;
    deps.log.warn({ errcode: err.errcode, kind: 'component' }, 'token rejected; refreshing once');
    await componentSlot(deps).expire(first.version);
    const second = await getComponentToken(deps);
    return call(second.token);
  }
}
