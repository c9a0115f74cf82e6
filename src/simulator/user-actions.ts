import { buildXml } from '../wechat/xml.js';
import type { SimContext } from './context.js';
import { newMediaId } from './ids.js';
import { samplePng, sniffImage } from './images.js';
import { callbackUrl } from './options.js';
import type { PushService } from './push.js';
import { applyWindowAction } from './send-window.js';
import type { Media, PushRecord, SimMiniProgram, SimUser } from './state.js';

export type UserAction =
  | { type: 'enter_session'; sessionFrom?: string }
  | { type: 'text'; content: string }
  | { type: 'image'; image?: Buffer; filename?: string }
  | { type: 'miniprogrampage'; title: string; pagePath: string; thumb?: Buffer }
  | { type: 'event'; event: string; fields?: Record<string, string> }
  | { type: 'message'; msgType: string; fields?: Record<string, string> };

export interface UserActionOptions {
  createTime?: number;
  msgId?: string;
}

/** MsgIds exceed 2^53, so they travel as digit strings and are written bare like WeChat writes them. */
export function innerXml(fields: Record<string, string | number>): string {
  return buildXml(fields).replace(/<MsgId><!\[CDATA\[(\d+)\]\]><\/MsgId>/, '<MsgId>$1</MsgId>');
}

export function storeMedia(
  ctx: SimContext,
  appid: string,
  bytes: Buffer,
  source: Media['source'],
  filename?: string,
): Media | null {
  const kind = sniffImage(bytes);
  if (!kind) return null;
  const media: Media = {
    mediaId: newMediaId(),
    appid,
    contentType: kind.contentType,
    filename: filename ?? `image.${kind.ext}`,
    bytes,
    createdAt: ctx.clock.now(),
    source,
  };
  ctx.state.media.set(media.mediaId, media);
  return media;
}

function mediaOrSample(ctx: SimContext, appid: string, bytes: Buffer | undefined, filename?: string): Media {
  const media = bytes ? storeMedia(ctx, appid, bytes, 'user', filename) : null;
  if (bytes && !media) throw new UserActionError('image must be a JPEG, PNG or GIF');
  return media ?? (storeMedia(ctx, appid, samplePng(), 'user', 'sample.png') as Media);
}

export class UserActionError extends Error {}

/**
 * A simulated WeChat user does something in the mini-program's customer-service chat: the simulator updates
 * what WeChat itself tracks (the openid becomes known, the send window, the typing interaction clock) at the
 * moment of the action, then pushes it encrypted to the platform's message URL.
 */
export function performUserAction(
  ctx: SimContext,
  pushes: PushService,
  mp: SimMiniProgram,
  user: SimUser,
  action: UserAction,
  opts: UserActionOptions = {},
): { record: PushRecord; settled: Promise<PushRecord> } {
  const createTime = opts.createTime ?? ctx.clock.nowSec();
  const head = { ToUserName: mp.userName, FromUserName: user.openid, CreateTime: createTime };
  const msgId = () => opts.msgId ?? ctx.state.msgIds.take();
  const pub = ctx.publicUrl();
  let fields: Record<string, string | number>;
  let type: string;
  let timeline: Record<string, unknown>;
  switch (action.type) {
    case 'enter_session':
      fields = {
        ...head,
        MsgType: 'event',
        Event: 'user_enter_tempsession',
        SessionFrom: action.sessionFrom ?? '',
      };
      type = 'event:user_enter_tempsession';
      timeline = { sessionFrom: action.sessionFrom ?? '' };
      break;
    case 'text':
      fields = { ...head, MsgType: 'text', Content: action.content, MsgId: msgId() };
      type = 'text';
      timeline = { content: action.content };
      break;
    case 'image': {
      const media = mediaOrSample(ctx, mp.appid, action.image, action.filename);
      const picUrl = `${pub}/sim/media/${media.mediaId}`;
      fields = { ...head, MsgType: 'image', PicUrl: picUrl, MediaId: media.mediaId, MsgId: msgId() };
      type = 'image';
      timeline = { mediaId: media.mediaId, picUrl };
      break;
    }
    case 'miniprogrampage': {
      const media = mediaOrSample(ctx, mp.appid, action.thumb);
      const thumbUrl = `${pub}/sim/media/${media.mediaId}`;
      fields = {
        ...head,
        MsgType: 'miniprogrampage',
        MsgId: msgId(),
        Title: action.title,
        AppId: mp.appid,
        PagePath: action.pagePath,
        ThumbUrl: thumbUrl,
        ThumbMediaId: media.mediaId,
      };
      type = 'miniprogrampage';
      timeline = { title: action.title, pagePath: action.pagePath, thumbMediaId: media.mediaId, thumbUrl };
      break;
    }
    case 'event':
      fields = { ...head, MsgType: 'event', Event: action.event, ...(action.fields ?? {}) };
      type = `event:${action.event}`;
      timeline = { event: action.event, ...(action.fields ?? {}) };
      break;
    case 'message':
      fields = { ...head, MsgType: action.msgType, ...(action.fields ?? {}), MsgId: msgId() };
      type = action.msgType;
      timeline = { ...(action.fields ?? {}) };
      break;
  }

  user.known = true;
  const isEvent = fields.MsgType === 'event';
  const isEnter = action.type === 'enter_session';
  const limits = ctx.config.sendWindow;
  const limit = isEnter ? limits.enterSession : isEvent ? null : limits.userMessage;
  if (limit) applyWindowAction(ctx.state.window(mp.appid, user.openid), createTime, limit);
  if (limit) ctx.state.typingState(mp.appid, user.openid).lastExchangeAt = ctx.clock.now();

  const pushed = pushes.send({
    kind: 'authorizer',
    type,
    appid: mp.appid,
    openid: user.openid,
    toUserName: mp.userName,
    url: callbackUrl(ctx.config, mp.appid),
    plaintext: innerXml(fields),
  });
  ctx.state.addTimeline(mp.appid, user.openid, {
    at: ctx.clock.now(),
    from: 'user',
    type,
    data: { ...timeline, ...(fields.MsgId ? { msgId: fields.MsgId } : {}) },
    pushId: pushed.record.id,
  });
  return pushed;
}
