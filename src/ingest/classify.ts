import { createHash } from 'node:crypto';
import { unstorablePath } from '../db/text.js';
import type { EventType } from '../delivery/outbox.js';
import type { UserAction } from '../messaging/window.js';

// What a decrypted customer-service push means (wechat-protocol.md §4): its dedupe key, the event tenants get
// (http-api.md §6) and the send-window action it stands for (§7). Pure, so every shape is unit-tested.

export interface ClassifiedPush {
  /** MsgId for messages, FromUserName|CreateTime|Event for events (§4.2) */
  dedupeKey: string;
  toUserName: string | null;
  openid: string;
  msgType: string;
  event: string | null;
  msgId: string | null;
  /** CreateTime, unix seconds */
  createTime: number;
  /** every decrypted field, as strings */
  raw: Record<string, string>;
  eventType: EventType;
  data: Record<string, unknown>;
  windowAction: UserAction | null;
}

export class InvalidPushError extends Error {
  override readonly name = 'InvalidPushError';
}

// CreateTime lands in an int4 column: a value outside it would fail the whole group-commit batch.
const CREATE_TIME = /^[0-9]{1,10}$/;
const MAX_CREATE_TIME = 2_147_483_647;

function required(raw: Record<string, string>, name: string): string {
  const value = raw[name];
  if (value === undefined || value === '') throw new InvalidPushError(`the push has no ${name}`);
  return value;
}

/** Throws InvalidPushError for a payload that is not a storable push (answered 400, nothing stored). */
export function classifyPush(raw: Record<string, string>): ClassifiedPush {
  // one push PostgreSQL cannot store would fail every batch it joins
  if (unstorablePath(raw) !== null) {
    throw new InvalidPushError('the push contains characters that cannot be stored');
  }
  const openid = required(raw, 'FromUserName');
  const msgType = required(raw, 'MsgType');
  const createTimeText = required(raw, 'CreateTime');
  const createTime = Number(createTimeText);
  if (!CREATE_TIME.test(createTimeText) || createTime > MAX_CREATE_TIME) {
    throw new InvalidPushError('CreateTime is not a unix time in seconds');
  }
  const createdAt = new Date(createTime * 1000).toISOString();
  const toUserName = raw.ToUserName ?? null;
  const base = { toUserName, openid, msgType, createTime, raw };

  if (msgType === 'event') {
    const event = raw.Event ?? '';
    const dedupeKey = `${openid}|${createTimeText}|${event}`;
    if (event === 'user_enter_tempsession') {
      return {
        ...base,
        dedupeKey,
        event,
        msgId: null,
        eventType: 'session.entered',
        data: { openid, sessionFrom: raw.SessionFrom ?? '', createTime: createdAt, raw },
        windowAction: 'enter_session',
      };
    }
    return {
      ...base,
      dedupeKey,
      event,
      msgId: null,
      eventType: 'wechat.event',
      data: { openid, event, createTime: createdAt, raw },
      windowAction: null,
    };
  }

  // WeChat gives every message a MsgId; should one come without, the whole payload identifies its retries.
  const msgId = raw.MsgId !== undefined && raw.MsgId !== '' ? raw.MsgId : null;
  const dedupeKey = msgId ?? `${openid}|${createTimeText}|${msgType}|${payloadDigest(raw)}`;
  const data: Record<string, unknown> = { openid, msgId, msgType, createTime: createdAt };
  if (msgType === 'text') data.text = { content: raw.Content ?? '' };
  else if (msgType === 'image') data.image = { picUrl: raw.PicUrl ?? '', mediaId: raw.MediaId ?? '' };
  else if (msgType === 'miniprogrampage') {
    data.miniprogrampage = {
      title: raw.Title ?? '',
      appid: raw.AppId ?? '',
      pagePath: raw.PagePath ?? '',
      thumbUrl: raw.ThumbUrl ?? '',
      thumbMediaId: raw.ThumbMediaId ?? '',
    };
  }
  data.raw = raw;
  return {
    ...base,
    dedupeKey,
    event: null,
    msgId,
    eventType: 'message.received',
    data,
    windowAction: 'user_message',
  };
}

function payloadDigest(raw: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(raw).sort()) hash.update(`${key}\u0000${raw[key]}\u0000`);
  return hash.digest('hex').slice(0, 32);
}
