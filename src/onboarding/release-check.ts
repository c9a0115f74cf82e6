import type { Deps } from '../deps.js';
import type { KeyUsed } from '../wechat/crypto.js';
import { buildEncryptedReply } from '../wechat/envelope.js';
import { buildXml } from '../wechat/xml.js';
import { withAuthorizerToken } from './authorizer-tokens.js';
import { completeAuthorization } from './complete.js';

export { isReleaseTestAccount } from './release-accounts.js';

// 全网发布 (wechat-protocol.md §8): WeChat's automated check pushes to its test accounts and expects:
//  text TESTCOMPONENT_MSG_TYPE_TEXT → an encrypted passive reply "TESTCOMPONENT_MSG_TYPE_TEXT_callback";
//  text QUERY_AUTH_CODE:xxx → an empty answer at once, then api_query_auth(xxx) and custom/send "xxx_from_api";
//  any event → an encrypted passive reply "<Event>from_callback".

const TEXT_PROBE = 'TESTCOMPONENT_MSG_TYPE_TEXT';
const QUERY_AUTH_CODE = 'QUERY_AUTH_CODE:';

export interface ReleaseTestInput {
  appid: string;
  payload: Record<string, string>;
  nonce: string;
  format: 'xml' | 'json';
  /** the EncodingAESKey that decrypted the push: the reply uses the same */
  keyUsed: KeyUsed;
  /** WeChat re-sent a push already stored: answered again, but its QUERY_AUTH_CODE work is not redone */
  duplicate: boolean;
}

function passiveText(deps: Deps, input: ReleaseTestInput, content: string) {
  const now = Math.floor(deps.clock.now().getTime() / 1000);
  const plaintext = buildXml({
    ToUserName: input.payload.FromUserName ?? '',
    FromUserName: input.payload.ToUserName ?? '',
    CreateTime: now,
    MsgType: 'text',
    Content: content,
  });
  const body = buildEncryptedReply(deps.crypto, plaintext, {
    nonce: input.nonce,
    timestamp: String(now),
    format: input.format,
    key: input.keyUsed,
  });
  return { body, contentType: input.format === 'json' ? 'application/json' : 'application/xml' };
}

/**
 * The QUERY_AUTH_CODE script, run after the answer. Failure policy: logged; WeChat's check then fails and is
 * re-run by the operator (there is nothing to retry against once its 5-second window has passed).
 */
async function answerQueryAuthCode(deps: Deps, code: string, openid: string): Promise<void> {
  try {
    // Reuses the one exchange when the `authorized` push already did it (completeAuthorization claims codes).
    const { appid } = await completeAuthorization(deps, { code, tenantId: null, linkId: null });
    await withAuthorizerToken(deps, appid, (token) =>
      deps.wechat.customSend(token, {
        touser: openid,
        msgtype: 'text',
        text: { content: `${code}_from_api` },
      }),
    );
    deps.log.info({ appid }, 'release check: QUERY_AUTH_CODE answered');
  } catch (err) {
    deps.log.error({ err }, 'release check: QUERY_AUTH_CODE failed');
  }
}

/** In-flight QUERY_AUTH_CODE work, so tests and shutdown can wait for it. */
export const pendingReleaseWork = new Set<Promise<void>>();

/**
 * For a decrypted push of a release-test account: the encrypted passive reply (text →
 * TESTCOMPONENT_MSG_TYPE_TEXT_callback; an event → `<Event>from_callback`), or for `QUERY_AUTH_CODE:xxx` a
 * `success` answer now and, in the background, api_query_auth with xxx (reusing the one exchange if the
 * `authorized` event already did it) then custom/send text `xxx_from_api` to the sender (once: not again
 * for WeChat's re-sends of the same push).
 */
export async function handleReleaseTestPush(
  deps: Deps,
  input: ReleaseTestInput,
): Promise<{ body: string; contentType: string }> {
  const { MsgType: msgType, Content: content, Event: event, FromUserName: openid } = input.payload;
  if (msgType === 'event' && event) return passiveText(deps, input, `${event}from_callback`);
  if (msgType === 'text' && content === TEXT_PROBE) return passiveText(deps, input, `${TEXT_PROBE}_callback`);
  if (msgType === 'text' && content?.startsWith(QUERY_AUTH_CODE) && openid && !input.duplicate) {
    const code = content.slice(QUERY_AUTH_CODE.length);
    const work = answerQueryAuthCode(deps, code, openid);
    pendingReleaseWork.add(work);
    void work.finally(() => pendingReleaseWork.delete(work));
  }
  return { body: 'success', contentType: 'text/plain; charset=utf-8' };
}
