import { createHash } from 'node:crypto';
import type { Deps } from '../deps.js';
import { type BackgroundJob, intervalJob } from '../jobs.js';
import { getAuthorizerToken } from './authorizer-tokens.js';
import { finishIncomplete, purgeSpentCodes } from './complete.js';
import { retryComponentEvents } from './component-events.js';
import {
  componentSlot,
  currentTicket,
  ensureComponentRow,
  getComponentToken,
  TICKET_LIFETIME_MS,
} from './component-token.js';
import { lastTicketReceivedAt, lastTicketRequestAt, startPushTicket } from './ticket.js';
import { backgroundMarginMs, insideMargin } from './token-slot.js';

// Background work of onboarding. Every job is safe on any number of instances at once: token refreshes take
// the row's lease (one refresher), event retries go through the code claim (one exchange).

/** A ticket is pushed every 10 minutes; none for this long means the push has stopped (§2.1). */
export const TICKET_SILENCE_MS = 30 * 60_000;
/** Refresh failures are retried within 10 s while the token is inside its margin (§3.9). */
export const REFRESH_INTERVAL_MS = 10_000;
const AUTHORIZER_BATCH = 50;
const AUTHORIZER_CONCURRENCY = 4;

/**
 * First run: no ticket younger than 12 h → api_start_push_ticket. Later runs: none for 30 min, counted from the
 * newest ticket or from the last accepted start request, whichever is later (a fresh install has no ticket at
 * all, and WeChat owes one only from its request on) → alert and start again.
 * Failure policy: startPushTicket logs and the next minute's run tries again.
 */
export async function checkTicket(deps: Deps, firstRun: boolean): Promise<boolean> {
  await ensureComponentRow(deps);
  const now = deps.clock.now().getTime();
  const last = await lastTicketReceivedAt(deps);
  if (firstRun) {
    if (last && now - last.getTime() < TICKET_LIFETIME_MS) return false;
    if (last) silent(deps, last, null);
    return startPushTicket(deps, 'no ticket younger than 12 h at start');
  }
  const requested = lastTicketRequestAt(deps);
  const since = Math.max(
    last?.getTime() ?? Number.NEGATIVE_INFINITY,
    requested?.getTime() ?? Number.NEGATIVE_INFINITY,
  );
  if (now - since < TICKET_SILENCE_MS) return false;
  // since = -∞: neither a ticket nor an accepted request yet; the failed request was logged when it failed
  if (since !== Number.NEGATIVE_INFINITY) silent(deps, last, requested);
  return startPushTicket(deps, last ? 'ticket push silent' : 'no ticket since the push was requested');
}

function silent(deps: Deps, lastTicketAt: Date | null, lastRequestAt: Date | null): void {
  deps.log.error(
    {
      lastTicketAt: lastTicketAt?.toISOString() ?? null,
      lastRequestAt: lastRequestAt?.toISOString() ?? null,
    },
    'no component_verify_ticket for 30 minutes',
  );
}

/** Refreshes the component token when it is missing or inside the background margin. */
export async function refreshComponentToken(deps: Deps): Promise<boolean> {
  await ensureComponentRow(deps);
  const current = await componentSlot(deps).read();
  if (current && !insideMargin(current, deps.clock.now(), backgroundMarginMs)) return false;
  if (!(await currentTicket(deps))) return false; // nothing to refresh with; the ticket watchdog handles that
  await getComponentToken(deps, backgroundMarginMs);
  return true;
}

/** 0.75–1: each appid refreshes at its own point inside the margin, so tokens issued together spread out. */
function jitterFactor(appid: string): number {
  return 0.75 + (createHash('sha256').update(appid).digest().readUInt16BE(0) / 0xffff) * 0.25;
}

/** One batch of authorizer tokens due for refresh, nearest expiry first. Failures are logged and retried next run. */
export async function refreshAuthorizerTokens(deps: Deps, limit = AUTHORIZER_BATCH): Promise<number> {
  const now = deps.clock.now();
  const rows = await deps.db.query<{ appid: string; expires_at: Date | null; issued_at: Date | null }>(
    `SELECT appid, access_token_expires_at AS expires_at, access_token_issued_at AS issued_at FROM authorizers
     WHERE status IN ('authorized', 'pending') AND refresh_token_enc IS NOT NULL
       AND (lease_until IS NULL OR lease_until < $1)
       AND (access_token_expires_at IS NULL OR access_token_expires_at - LEAST(interval '600 seconds',
            (access_token_expires_at - COALESCE(access_token_issued_at, access_token_expires_at)) / 2) < $1)
     ORDER BY access_token_expires_at NULLS FIRST LIMIT $2`,
    [now, limit],
  );
  const due = rows.filter((r) => {
    if (!r.expires_at) return true;
    const lifetime = r.expires_at.getTime() - (r.issued_at ?? r.expires_at).getTime();
    return r.expires_at.getTime() - now.getTime() < backgroundMarginMs(lifetime) * jitterFactor(r.appid);
  });
  let refreshed = 0;
  const queue = [...due];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const appid = r.appid;
      try {
        await getAuthorizerToken(
          deps,
          appid,
          (lifetime) => backgroundMarginMs(lifetime) * jitterFactor(appid),
        );
        refreshed++;
      } catch (err) {
        deps.log.warn({ err, appid }, 'authorizer token refresh failed; retried on the next run');
      }
    }
  };
  await Promise.all(Array.from({ length: AUTHORIZER_CONCURRENCY }, worker));
  return refreshed;
}

export function createOnboardingJobs(deps: Deps): BackgroundJob[] {
  const onError = (name: string) => (err: unknown) => deps.log.error({ err, job: name }, 'job run failed');
  let firstTicketRun = true;
  const ticket = intervalJob(
    'onboarding.ticket-watchdog',
    60_000,
    async () => {
      const first = firstTicketRun;
      firstTicketRun = false;
      return checkTicket(deps, first);
    },
    onError('onboarding.ticket-watchdog'),
  );
  const componentToken = intervalJob(
    'onboarding.component-token',
    REFRESH_INTERVAL_MS,
    () => refreshComponentToken(deps),
    onError('onboarding.component-token'),
  );
  const authorizerTokens = intervalJob(
    'onboarding.authorizer-tokens',
    REFRESH_INTERVAL_MS,
    () => refreshAuthorizerTokens(deps),
    onError('onboarding.authorizer-tokens'),
  );
  // Unprocessed authorized/updateauthorized/unauthorized events and exchanged-but-unfinished codes: retried every
  // 30 s until they succeed or WeChat says the code is spent (61009/61010), which ends them with the error kept.
  const retries = intervalJob(
    'onboarding.event-retry',
    30_000,
    async () => {
      const retried = (await retryComponentEvents(deps)) + (await finishIncomplete(deps));
      await purgeSpentCodes(deps);
      return retried;
    },
    onError('onboarding.event-retry'),
  );
  return [ticket, componentToken, authorizerTokens, retries];
}
