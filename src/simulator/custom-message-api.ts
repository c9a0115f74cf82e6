import type { Context, Hono } from 'hono';
import { apiRoute, type CallInfo, readJson, str } from './api-route.js';
import type { SimContext } from './context.js';
import { consumeWindow, windowErrcode } from './send-window.js';
import type { SimUser } from './state.js';
import { requireCustomerServiceToken } from './tokens.js';
import { WxError } from './wx-error.js';

/** WeChat's limit on a text message's content, in UTF-8 bytes. */
export const TEXT_MAX_BYTES = 2048;
/** Typing needs an exchange within this many seconds and lasts this long (§5.2). */
export const TYPING_INTERACTION_S = 30;
export const TYPING_DURATION_S = 15;

function object(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = body[key];
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new WxError(47001);
  return value as Record<string, unknown>;
}

function requireMedia(ctx: SimContext, appid: string, mediaId: string | undefined): void {
  const media = mediaId ? ctx.state.media.get(mediaId) : undefined;
  const expired = media && ctx.clock.now() >= media.createdAt + ctx.config.mediaTtlSeconds * 1000;
  if (!media || media.appid !== appid || expired) throw new WxError(40007);
}

/** Checks one message body the way WeChat does and returns what the chat page should show. */
function validateMessage(
  ctx: SimContext,
  appid: string,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const msgtype = str(body, 'msgtype');
  switch (msgtype) {
    case 'text': {
      const content = object(body, 'text').content;
      if (typeof content !== 'string' || content === '') throw new WxError(47001);
      if (Buffer.byteLength(content, 'utf8') > TEXT_MAX_BYTES) throw new WxError(45002);
      return { content };
    }
    case 'image': {
      const mediaId = str(object(body, 'image'), 'media_id');
      requireMedia(ctx, appid, mediaId);
      return { mediaId };
    }
    case 'link': {
      const link = object(body, 'link');
      if (!str(link, 'title') || !str(link, 'url')) throw new WxError(47001);
      return {
        title: link.title,
        description: link.description ?? '',
        url: link.url,
        thumbUrl: link.thumb_url ?? '',
      };
    }
    case 'miniprogrampage': {
      const card = object(body, 'miniprogrampage');
      if (!str(card, 'title') || !str(card, 'pagepath')) throw new WxError(47001);
      const thumbMediaId = str(card, 'thumb_media_id');
      requireMedia(ctx, appid, thumbMediaId);
      return { title: card.title, pagePath: card.pagepath, thumbMediaId };
    }
    default:
      throw new WxError(40008);
  }
}

function requireKnownUser(ctx: SimContext, appid: string, openid: string | undefined): SimUser {
  const user = openid ? ctx.state.miniPrograms.get(appid)?.users.get(openid) : undefined;
  if (!user?.known) throw new WxError(40003);
  return user;
}

function businessId(body: Record<string, unknown>, business: boolean): void {
  // 客服子商户 endpoints want a businessid; WeChat answers 40101 without one.
  if (business && body.businessid === undefined) throw new WxError(40101);
}

async function send(ctx: SimContext, c: Context, call: CallInfo, api: string, business: boolean) {
  const { appid } = requireCustomerServiceToken(ctx, c, call);
  const body = await readJson(c);
  businessId(body, business);
  const user = requireKnownUser(ctx, appid, str(body, 'touser'));
  const shown = validateMessage(ctx, appid, body);
  const now = ctx.clock.now();
  const window = ctx.state.window(appid, user.openid);
  const refused = windowErrcode(window, Math.floor(now / 1000));
  if (refused) throw new WxError(refused);
  consumeWindow(window);
  const typing = ctx.state.typingState(appid, user.openid);
  typing.typingUntil = null;
  typing.lastExchangeAt = now;
  const msgtype = String(body.msgtype);
  ctx.state.remember(ctx.state.messages, {
    seq: ctx.state.nextSeq(),
    at: now,
    appid,
    openid: user.openid,
    msgtype,
    body,
    api,
  });
  ctx.state.addTimeline(appid, user.openid, {
    at: now,
    from: 'tenant',
    type: msgtype,
    data: shown,
    pushId: null,
  });
  ctx.state.events.emit('message', { appid, openid: user.openid, msgtype, body });
  return { errcode: 0, errmsg: 'ok' };
}

async function typing(ctx: SimContext, c: Context, call: CallInfo, business: boolean) {
  const { appid } = requireCustomerServiceToken(ctx, c, call);
  const body = await readJson(c);
  businessId(body, business);
  const command = body.command;
  if (command !== 'Typing' && command !== 'CancelTyping') throw new WxError(45072);
  const user = requireKnownUser(ctx, appid, str(body, 'touser'));
  const now = ctx.clock.now();
  if (windowErrcode(ctx.state.window(appid, user.openid), Math.floor(now / 1000)) === 45015) {
    throw new WxError(45015);
  }
  const state = ctx.state.typingState(appid, user.openid);
  if (command === 'CancelTyping') {
    state.typingUntil = null;
  } else {
    if (state.lastExchangeAt === null || now - state.lastExchangeAt > TYPING_INTERACTION_S * 1000) {
      throw new WxError(45080);
    }
    if (state.typingUntil !== null && now < state.typingUntil) throw new WxError(45081);
    state.typingUntil = now + TYPING_DURATION_S * 1000;
  }
  ctx.state.events.emit('typing', { appid, openid: user.openid, typingUntil: state.typingUntil });
  return { errcode: 0, errmsg: 'ok' };
}

/** 客服消息 send and typing (wechat-protocol.md §5.1, §5.2), also under the `business/` paths. */
export function registerCustomMessageApi(app: Hono, ctx: SimContext): void {
  for (const business of [false, true]) {
    const prefix = business ? '/cgi-bin/message/custom/business' : '/cgi-bin/message/custom';
    const suffix = business ? '_business' : '';
    app.post(
      `${prefix}/send`,
      apiRoute(ctx, `custom_send${suffix}`, (c, call) =>
        send(ctx, c, call, `custom_send${suffix}`, business),
      ),
    );
    app.post(
      `${prefix}/typing`,
      apiRoute(ctx, `custom_typing${suffix}`, (c, call) => typing(ctx, c, call, business)),
    );
  }
}
