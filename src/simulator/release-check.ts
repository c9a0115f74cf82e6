import { parseXmlDocument } from '../wechat/xml.js';
import { grantAuthorization } from './authorization.js';
import type { SimContext } from './context.js';
import { RELEASE_TEST_ACCOUNTS } from './seed.js';
import type { PushRecord, SimMiniProgram, SimUser } from './state.js';
import { performUserAction } from './user-actions.js';

export interface ReleaseCheckStep {
  name: 'text' | 'event' | 'query_auth_code';
  ok: boolean;
  detail: string;
  pushId: string;
  reply: string | null;
}

export interface ReleaseCheckResult {
  ok: boolean;
  appid: string;
  openid: string;
  steps: ReleaseCheckStep[];
}

function replyFields(push: PushRecord): Record<string, unknown> | null {
  if (!push.reply?.plaintext) return null;
  try {
    return parseXmlDocument(push.reply.plaintext) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The encrypted passive text reply WeChat's checker expects: To/From swapped and the given Content. */
function checkTextReply(push: PushRecord, mp: SimMiniProgram, user: SimUser, content: string): string | null {
  if (push.status !== 'delivered')
    return `push ${push.status}: ${push.attempts.at(-1)?.error ?? 'no answer'}`;
  const fields = replyFields(push);
  if (!fields) return push.reply?.error ?? 'no encrypted passive reply';
  if (fields.ToUserName !== user.openid)
    return `reply ToUserName ${String(fields.ToUserName)} ≠ ${user.openid}`;
  if (fields.FromUserName !== mp.userName)
    return `reply FromUserName ${String(fields.FromUserName)} ≠ ${mp.userName}`;
  if (fields.MsgType !== 'text') return `reply MsgType ${String(fields.MsgType)} ≠ text`;
  if (fields.Content !== content)
    return `reply Content ${JSON.stringify(fields.Content)} ≠ ${JSON.stringify(content)}`;
  return null;
}

function waitForSend(ctx: SimContext, appid: string, openid: string, content: string, timeoutMs: number) {
  return new Promise<boolean>((resolve) => {
    const onMessage = (m: {
      appid: string;
      openid: string;
      msgtype: string;
      body: Record<string, unknown>;
    }) => {
      const text = (m.body.text as { content?: unknown } | undefined)?.content;
      if (m.appid === appid && m.openid === openid && m.msgtype === 'text' && text === content) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      ctx.state.events.off('message', onMessage);
      resolve(ok);
    };
    ctx.state.events.on('message', onMessage);
  });
}

/**
 * Runs WeChat's 全网发布 automated check (wechat-protocol.md §8) against the relay: the text and event
 * checks expect encrypted passive replies; QUERY_AUTH_CODE expects an empty/`success` answer and then a
 * custom/send of `<code>_from_api` made with the token from api_query_auth.
 */
export async function runReleaseCheck(
  ctx: SimContext,
  input: { appid?: string; event?: string; timeoutMs?: number },
): Promise<ReleaseCheckResult> {
  const mini = RELEASE_TEST_ACCOUNTS.filter((a) => a.appid === input.appid || !input.appid);
  const pick = input.appid ?? mini[Math.floor(Math.random() * mini.length)]?.appid ?? '';
  const mp = ctx.state.miniPrograms.get(pick);
  if (!mp) throw new Error(`no simulated mini-program ${pick}`);
  const user = ctx.state.addUser(mp, { nickname: '全网发布测试用户' }, ctx.clock.now());
  const steps: ReleaseCheckStep[] = [];

  const text = performUserAction(ctx, ctx.pushes, mp, user, {
    type: 'text',
    content: 'TESTCOMPONENT_MSG_TYPE_TEXT',
  });
  const textPush = await text.settled;
  const textProblem = checkTextReply(textPush, mp, user, 'TESTCOMPONENT_MSG_TYPE_TEXT_callback');
  steps.push({
    name: 'text',
    ok: textProblem === null,
    detail: textProblem ?? 'encrypted reply TESTCOMPONENT_MSG_TYPE_TEXT_callback',
    pushId: textPush.id,
    reply: textPush.reply?.plaintext ?? null,
  });

  const eventName = input.event ?? 'LOCATION';
  const event = performUserAction(ctx, ctx.pushes, mp, user, {
    type: 'event',
    event: eventName,
    fields:
      eventName === 'LOCATION'
        ? { Latitude: '23.137466', Longitude: '113.352425', Precision: '119.385040' }
        : {},
  });
  const eventPush = await event.settled;
  const eventProblem = checkTextReply(eventPush, mp, user, `${eventName}from_callback`);
  steps.push({
    name: 'event',
    ok: eventProblem === null,
    detail: eventProblem ?? `encrypted reply ${eventName}from_callback`,
    pushId: eventPush.id,
    reply: eventPush.reply?.plaintext ?? null,
  });

  // The release test authorizes the account itself, so the same code also arrives as an `authorized` event.
  const grant = grantAuthorization(ctx, {
    appid: mp.appid,
    permissions: ctx.config.platformPermissions,
    preAuthCode: null,
  });
  const code = grant.authCode.code;
  const sent = waitForSend(ctx, mp.appid, user.openid, `${code}_from_api`, input.timeoutMs ?? 15_000);
  const query = performUserAction(ctx, ctx.pushes, mp, user, {
    type: 'text',
    content: `QUERY_AUTH_CODE:${code}`,
  });
  const queryPush = await query.settled;
  const answered = queryPush.status === 'delivered' && queryPush.reply === null;
  const arrived = await sent;
  steps.push({
    name: 'query_auth_code',
    ok: answered && arrived,
    detail: !answered
      ? `the push must be answered with an empty body or "success" (${queryPush.attempts.at(-1)?.error ?? 'got a reply'})`
      : arrived
        ? `custom/send ${code}_from_api arrived`
        : `no custom/send text ${code}_from_api within the timeout`,
    pushId: queryPush.id,
    reply: queryPush.reply?.plaintext ?? null,
  });

  return { ok: steps.every((s) => s.ok), appid: mp.appid, openid: user.openid, steps };
}
