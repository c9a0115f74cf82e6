import { describe, expect, it } from 'vitest';
import { zodToFieldErrors } from '../../../src/api/validation.js';
import { requestFingerprint } from '../../../src/messaging/idempotency.js';
import { sniffImage } from '../../../src/messaging/media.js';
import { SendMessageSchema, toWeChatBody } from '../../../src/messaging/message-body.js';

const parse = (body: unknown) => SendMessageSchema.parse(body);
const problems = (body: unknown) => {
  const r = SendMessageSchema.safeParse(body);
  return r.success ? [] : zodToFieldErrors(r.error);
};

describe('toWeChatBody: the tenant fields become wechat-protocol.md §5.1 bodies', () => {
  it('text', () => {
    expect(toWeChatBody(parse({ openid: 'o1', type: 'text', text: { content: 'Hello World' } }))).toEqual({
      touser: 'o1',
      msgtype: 'text',
      text: { content: 'Hello World' },
    });
  });
  it('image: mediaId → media_id', () => {
    expect(toWeChatBody(parse({ openid: 'o1', type: 'image', image: { mediaId: 'MEDIA_ID' } }))).toEqual({
      touser: 'o1',
      msgtype: 'image',
      image: { media_id: 'MEDIA_ID' },
    });
  });
  it('link: thumbUrl → thumb_url', () => {
    const link = {
      title: 'Happy Day',
      description: 'Is Really A Happy Day',
      url: 'https://a.example/x',
      thumbUrl: 'https://a.example/t.png',
    };
    expect(toWeChatBody(parse({ openid: 'o1', type: 'link', link }))).toEqual({
      touser: 'o1',
      msgtype: 'link',
      link: {
        title: 'Happy Day',
        description: 'Is Really A Happy Day',
        url: 'https://a.example/x',
        thumb_url: 'https://a.example/t.png',
      },
    });
  });
  it('miniprogrampage: pagePath → pagepath, thumbMediaId → thumb_media_id, no appid', () => {
    const card = { title: 'title', pagePath: 'pages/index/index?foo=bar', thumbMediaId: 'MEDIA_ID' };
    expect(toWeChatBody(parse({ openid: 'o1', type: 'miniprogrampage', miniprogrampage: card }))).toEqual({
      touser: 'o1',
      msgtype: 'miniprogrampage',
      miniprogrampage: { title: 'title', pagepath: 'pages/index/index?foo=bar', thumb_media_id: 'MEDIA_ID' },
    });
  });
});

describe('SendMessageSchema: exactly one kind, strict types, the limits of http-api.md §4', () => {
  it('a second kind or an unknown field is named', () => {
    expect(problems({ openid: 'o1', type: 'text', text: { content: 'a' }, image: { mediaId: 'm' } })).toEqual(
      [{ path: 'image', message: 'is not a known field' }],
    );
    expect(problems({ openid: 'o1', type: 'text', text: { content: 'a', extra: 1 } })).toEqual([
      { path: 'text.extra', message: 'is not a known field' },
    ]);
  });
  it('the kind object must match the type, and the type must be one of the four', () => {
    expect(
      problems({ openid: 'o1', type: 'text', image: { mediaId: 'm' } })
        .map((p) => p.path)
        .sort(),
    ).toEqual(['image', 'text']);
    expect(problems({ openid: 'o1', type: 'voice', voice: {} }).length).toBeGreaterThan(0);
  });
  it('text content: 1 to 20,000 characters, a string (nothing coerced)', () => {
    expect(problems({ openid: 'o1', type: 'text', text: { content: 'x'.repeat(20_000) } })).toEqual([]);
    expect(problems({ openid: 'o1', type: 'text', text: { content: 'x'.repeat(20_001) } })[0]?.path).toBe(
      'text.content',
    );
    expect(problems({ openid: 'o1', type: 'text', text: { content: '' } })[0]?.path).toBe('text.content');
    expect(problems({ openid: 'o1', type: 'text', text: { content: 123 } })[0]?.path).toBe('text.content');
  });
  it('openid: 1–64 of [A-Za-z0-9_-]', () => {
    expect(problems({ openid: 'o'.repeat(64), type: 'text', text: { content: 'a' } })).toEqual([]);
    expect(problems({ openid: 'o'.repeat(65), type: 'text', text: { content: 'a' } })[0]?.path).toBe(
      'openid',
    );
    expect(problems({ openid: 'o 1', type: 'text', text: { content: 'a' } })[0]?.path).toBe('openid');
  });
  it('link: http(s) URLs up to 2,048, title ≤ 200, description ≤ 1,000; every problem listed', () => {
    const ok = { title: 't', description: '', url: 'http://a.example/', thumbUrl: 'https://a.example/t' };
    expect(problems({ openid: 'o1', type: 'link', link: ok })).toEqual([]);
    const bad = {
      title: 't'.repeat(201),
      description: 'd'.repeat(1001),
      url: 'javascript:alert(1)',
      thumbUrl: `https://a.example/${'x'.repeat(2048)}`,
    };
    expect(
      problems({ openid: 'o1', type: 'link', link: bad })
        .map((p) => p.path)
        .sort(),
    ).toEqual(['link.description', 'link.thumbUrl', 'link.title', 'link.url']);
  });
  it('miniprogrampage needs title, pagePath and thumbMediaId', () => {
    expect(
      problems({ openid: 'o1', type: 'miniprogrampage', miniprogrampage: { title: 't' } })
        .map((p) => p.path)
        .sort(),
    ).toEqual(['miniprogrampage.pagePath', 'miniprogrampage.thumbMediaId']);
  });
});

describe('sniffImage: the type comes from the magic bytes', () => {
  it('recognises JPEG, PNG and GIF, and nothing else', () => {
    expect(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe('png');
    expect(sniffImage(new TextEncoder().encode('GIF89a..'))).toBe('gif');
    expect(sniffImage(new TextEncoder().encode('GIF87a..'))).toBe('gif');
    expect(sniffImage(new TextEncoder().encode('<svg xml'))).toBeNull();
    expect(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]))).toBeNull();
    expect(sniffImage(new Uint8Array())).toBeNull();
  });
});

describe('requestFingerprint', () => {
  it('ignores key order but not values, method or path', () => {
    const a = requestFingerprint('POST', '/v1/x', { openid: 'o', text: { content: 'a' }, type: 'text' });
    expect(requestFingerprint('POST', '/v1/x', { type: 'text', text: { content: 'a' }, openid: 'o' })).toBe(
      a,
    );
    expect(
      requestFingerprint('POST', '/v1/x', { type: 'text', text: { content: 'b' }, openid: 'o' }),
    ).not.toBe(a);
    expect(
      requestFingerprint('POST', '/v1/y', { type: 'text', text: { content: 'a' }, openid: 'o' }),
    ).not.toBe(a);
    expect(requestFingerprint('POST', '/v1/x', Buffer.from('abc'))).not.toBe(
      requestFingerprint('POST', '/v1/x', Buffer.from('abd')),
    );
  });
});
