import { isDatabaseUnavailable, retryThroughOutage } from '../db/errors.js';
import type { RequestContext } from '../deps.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import { withAuthorizerToken } from '../onboarding/authorizer-tokens.js';
import { WeChatApiError, WeChatUnavailableError } from '../wechat/errors.js';
import { applyWeChatRefusal, giveBackAllowance, takeAllowanceRefusal } from './allowance.js';
import { openSend, type TakenAllowance } from './gate.js';
import { SentNotRecordedError } from './idempotency.js';
import { type MessageType, messageContent, type SendMessageInput, toWeChatBody } from './message-body.js';
import { type OutboundRecord, recordFailed, recordSentBatched } from './outbound.js';
import { certainlyNotDelivered, wechatFailure } from './wechat-failure.js';

export interface SentMessage {
  id: string;
  appid: string;
  openid: string;
  type: MessageType;
  status: 'sent';
  sentAt: string;
}

const windowProblem = (code: 'send_window_closed' | 'send_limit_reached') =>
  code === 'send_window_closed'
    ? new AppError(
        'send_window_closed',
        'The user has not written or opened the chat recently enough; wait until they do (see "The send window" in the README)',
      )
    : new AppError(
        'send_limit_reached',
        "This reply window's message allowance is used up; the next user message or session opens a new one",
      );

/**
 * Sends one customer-service message: authorizer checks and (when enforced) the allowance in one statement,
 * the call with the authorizer token (refresh and retry once on token errcodes), then the outcome stored.
 */
export async function sendMessage(
  ctx: RequestContext,
  appid: string,
  input: SendMessageInput,
): Promise<SentMessage> {
  const { deps, tenantId } = ctx;
  const q = deps.db.query;
  const enforce = deps.config.sendWindow.enforce;
  const createdAt = deps.clock.now();
  const { taken } = await openSend(q, {
    tenantId,
    appid,
    openid: input.openid,
    now: createdAt,
    takeAllowance: enforce,
  });
  if (enforce && taken === null) {
    const code = await takeAllowanceRefusal(q, appid, input.openid, createdAt);
    deps.metrics.messagesSent.inc({ type: input.type, outcome: code });
    throw windowProblem(code);
  }

  const record: OutboundRecord = {
    id: newId('msg', createdAt.getTime()),
    tenantId,
    appid,
    openid: input.openid,
    type: input.type,
    body: messageContent(input),
    createdAt,
  };
  const body = toWeChatBody(input);
  try {
    await withAuthorizerToken(deps, appid, (token) => deps.wechat.customSend(token, body));
  } catch (err) {
    const problem = wechatFailure(err);
    if (!problem) throw err;
    await settleFailure(ctx, record, err, problem, taken);
    deps.metrics.messagesSent.inc({ type: input.type, outcome: problem.code });
    throw problem;
  }
  const sentAt = deps.clock.now();
  await recordAfterSend(() => recordSentBatched(deps, record, sentAt, { decrement: !enforce }));
  deps.metrics.messagesSent.inc({ type: input.type, outcome: 'sent' });
  return {
    id: record.id,
    appid,
    openid: input.openid,
    type: input.type,
    status: 'sent',
    sentAt: sentAt.toISOString(),
  };
}

/**
 * Writes what WeChat accepted, trying again through a brief database outage; past it, SentNotRecordedError
 * (its Idempotency-Key is kept, so a client's retry does not send the message twice).
 */
async function recordAfterSend(write: () => Promise<void>): Promise<void> {
  try {
    await retryThroughOutage(write);
  } catch (err) {
    throw isDatabaseUnavailable(err) ? new SentNotRecordedError(err) : err;
  }
}

/** WeChat's window verdicts correct the local state; any other refusal gives a taken allowance back. */
async function settleFailure(
  ctx: RequestContext,
  record: OutboundRecord,
  err: unknown,
  problem: AppError,
  taken: TakenAllowance | null,
): Promise<void> {
  const { deps } = ctx;
  const q = deps.db.query;
  if (problem.code === 'send_window_closed' || problem.code === 'send_limit_reached') {
    await applyWeChatRefusal(q, record.appid, record.openid, problem.code, deps.clock.now());
  } else if (taken && certainlyNotDelivered(err)) {
    await giveBackAllowance(q, record.appid, record.openid, taken);
  }
  const maybeDelivered = !certainlyNotDelivered(err);
  const errcode =
    err instanceof WeChatApiError || err instanceof WeChatUnavailableError ? (err.errcode ?? null) : null;
  const errmsg =
    err instanceof WeChatApiError || err instanceof WeChatUnavailableError
      ? (err.errmsg ?? null)
      : problem.detail;
  await recordFailed(q, record, { status: maybeDelivered ? 'unknown' : 'failed', errcode, errmsg });
  ctx.log.info({ appid: record.appid, code: problem.code, errcode }, 'send refused');
}
