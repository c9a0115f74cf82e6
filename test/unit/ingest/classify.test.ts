import { describe, expect, it } from 'vitest';
import { classifyPush, InvalidPushError } from '../../../src/ingest/classify.js';

const common = {
  ToUserName: 'gh_97417a04a28d',
  FromUserName: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
  CreateTime: '1715943329',
};

describe('classifyPush', () => {
  it('a text message: MsgId is the dedupe key, kept as the string it was', () => {
    const p = classifyPush({ ...common, MsgType: 'text', Content: '你好', MsgId: '25495331247649341' });
    expect(p).toMatchObject({
      dedupeKey: '25495331247649341',
      msgId: '25495331247649341',
      openid: common.FromUserName,
      createTime: 1715943329,
      eventType: 'message.received',
      windowAction: 'user_message',
    });
    expect(p.data).toEqual({
      openid: common.FromUserName,
      msgId: '25495331247649341',
      msgType: 'text',
      createTime: '2024-05-17T10:55:29.000Z',
      text: { content: '你好' },
      raw: { ...common, MsgType: 'text', Content: '你好', MsgId: '25495331247649341' },
    });
  });

  it('every kind carries the whole payload as data.raw (ingest stores the push row from it)', () => {
    const kinds: Record<string, string>[] = [
      { MsgType: 'text', Content: 'hi', MsgId: '1' },
      { MsgType: 'image', PicUrl: 'http://x/y.jpg', MediaId: 'm', MsgId: '2' },
      { MsgType: 'miniprogrampage', Title: 't', AppId: 'wx1', PagePath: 'p', MsgId: '3' },
      { MsgType: 'voice', MsgId: '4' },
      { MsgType: 'event', Event: 'user_enter_tempsession', SessionFrom: 's' },
      { MsgType: 'event', Event: 'weapp_audit_success' },
    ];
    for (const fields of kinds) {
      const raw = { ...common, ...fields };
      expect(classifyPush(raw).data.raw).toEqual(raw);
    }
  });

  it('events: FromUserName|CreateTime|Event; only the session entry opens a window', () => {
    const enter = classifyPush({ ...common, MsgType: 'event', Event: 'user_enter_tempsession' });
    expect(enter).toMatchObject({
      dedupeKey: `${common.FromUserName}|1715943329|user_enter_tempsession`,
      eventType: 'session.entered',
      windowAction: 'enter_session',
      msgId: null,
    });
    expect(enter.data).toMatchObject({ sessionFrom: '' });
    const audit = classifyPush({ ...common, MsgType: 'event', Event: 'weapp_audit_success' });
    expect(audit).toMatchObject({ eventType: 'wechat.event', windowAction: null });
    expect(audit.data).toMatchObject({ event: 'weapp_audit_success' });
  });

  it('a message without MsgId is keyed by its whole payload, so its retries still dedupe', () => {
    const a = classifyPush({ ...common, MsgType: 'text', Content: 'a' });
    const again = classifyPush({ MsgType: 'text', Content: 'a', ...common });
    const b = classifyPush({ ...common, MsgType: 'text', Content: 'b' });
    expect(a.dedupeKey).toBe(again.dedupeKey);
    expect(a.dedupeKey).not.toBe(b.dedupeKey);
    expect(a.data.msgId).toBeNull();
  });

  it.each([
    ['no FromUserName', { ToUserName: 'gh_x', CreateTime: '1', MsgType: 'text' }],
    ['no MsgType', { ...common }],
    ['CreateTime not seconds', { ...common, MsgType: 'text', CreateTime: '2024-05-17' }],
    ['CreateTime beyond int4', { ...common, MsgType: 'text', CreateTime: '2147483648' }],
    ['a NUL character', { ...common, MsgType: 'text', Content: 'a\u0000b' }],
    ['a lone surrogate', { ...common, MsgType: 'text', Content: 'a\ud800b' }],
  ])('refuses a payload with %s', (_, raw) => {
    expect(() => classifyPush(raw as Record<string, string>)).toThrow(InvalidPushError);
  });

  it('keeps emoji (surrogate pairs) as they are', () => {
    expect(classifyPush({ ...common, MsgType: 'text', Content: '👍', MsgId: '1' }).data.text).toEqual({
      content: '👍',
    });
  });
});
