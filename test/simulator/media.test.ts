import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { samplePng } from '../../src/simulator/images.js';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID, fixedClock, onboard, wx } from './support.js';

let t: TestSimulator;
let token: string;

async function upload(
  bytes: Uint8Array,
  opts: { type?: string; field?: string; filename?: string; contentType?: string; accessToken?: string } = {},
) {
  const form = new FormData();
  const blob = new Blob([bytes], { type: opts.contentType ?? 'image/png' });
  form.append(opts.field ?? 'media', blob, opts.filename ?? 'a.png');
  const q = new URLSearchParams({ access_token: opts.accessToken ?? token, type: opts.type ?? 'image' });
  const res = await fetch(`${t.url}/cgi-bin/media/upload?${q}`, { method: 'POST', body: form });
  return (await res.json()) as Record<string, unknown>;
}

const get = (mediaId: string, accessToken = token) =>
  fetch(
    `${t.url}/cgi-bin/media/get?${new URLSearchParams({ access_token: accessToken, media_id: mediaId })}`,
  );

beforeAll(async () => {
  t = await startTestSimulator({ clock: fixedClock, tokenTtlSeconds: 864_000 });
});
afterAll(() => t.close());
beforeEach(async () => {
  await t.control.reset();
  token = (await onboard(t)).accessToken;
});

describe('media/upload', () => {
  it('stores a png under field media and returns type, media_id, created_at', async () => {
    const png = samplePng(8, 8);
    const res = await upload(png);
    expect(res).toMatchObject({ type: 'image', created_at: 1_750_000_000 });
    expect(String(res.media_id)).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const file = await get(String(res.media_id));
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await file.arrayBuffer()).equals(png)).toBe(true);
  });

  it('accepts jpeg and gif by content, refuses other types with 40004', async () => {
    expect((await upload(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]), { filename: 'a.jpg' })).type).toBe(
      'image',
    );
    expect((await upload(Buffer.from('GIF89a....'), { filename: 'a.gif' })).type).toBe('image');
    expect((await upload(Buffer.from('%PDF-1.4'), { contentType: 'image/png' })).errcode).toBe(40004);
    expect((await upload(samplePng(), { type: 'voice' })).errcode).toBe(40004);
  });

  it('refuses more than 2 MiB with 45001, an empty file with 40006 and a missing field with 41005', async () => {
    const big = Buffer.concat([samplePng(), Buffer.alloc(2 * 1024 * 1024)]);
    expect((await upload(big)).errcode).toBe(45001);
    expect((await upload(Buffer.alloc(0))).errcode).toBe(40006);
    expect((await upload(samplePng(), { field: 'file' })).errcode).toBe(41005);
  });

  it('needs an authorizer token with permission 19', async () => {
    const { componentToken } = await onboard(t, 'wx6b2c3d4e5f6a7b8c', [19]);
    expect((await upload(samplePng(), { accessToken: componentToken })).errcode).toBe(48001);
  });
});

describe('media/get and media ids in messages', () => {
  it('answers 40007 in JSON for unknown ids, other mini-programs and after 3 days', async () => {
    const mediaId = String((await upload(samplePng())).media_id);
    const unknown = await get('nope');
    expect(unknown.headers.get('content-type')).toContain('application/json');
    expect(((await unknown.json()) as { errcode: number }).errcode).toBe(40007);

    const other = await onboard(t, 'wx6b2c3d4e5f6a7b8c', [19]);
    expect(((await (await get(mediaId, other.accessToken)).json()) as { errcode: number }).errcode).toBe(
      40007,
    );

    await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'hi');
    const image = { touser: DEMO_OPENID, msgtype: 'image', image: { media_id: mediaId } };
    expect((await wx(t, '/cgi-bin/message/custom/send', image, { access_token: token })).body.errcode).toBe(
      0,
    );

    await t.control.advanceClock(259_199);
    expect((await get(mediaId)).headers.get('content-type')).toBe('image/png');
    await t.control.advanceClock(1);
    expect(((await (await get(mediaId)).json()) as { errcode: number }).errcode).toBe(40007);
    await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'again');
    expect((await wx(t, '/cgi-bin/message/custom/send', image, { access_token: token })).body.errcode).toBe(
      40007,
    );
  });

  it('accepts an uploaded thumb_media_id for a mini-program card', async () => {
    const mediaId = String((await upload(samplePng())).media_id);
    await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'hi');
    const card = { title: '商品', pagepath: 'pages/item/item?id=1', thumb_media_id: mediaId };
    const res = await wx(
      t,
      '/cgi-bin/message/custom/send',
      { touser: DEMO_OPENID, msgtype: 'miniprogrampage', miniprogrampage: card },
      { access_token: token },
    );
    expect(res.body.errcode).toBe(0);
  });

  it("serves a user's image (MediaId of the push) through media/get", async () => {
    const { push } = await t.control.sendImage(DEMO_APPID, DEMO_OPENID);
    const mediaId = /<MediaId><!\[CDATA\[([^\]]+)\]\]><\/MediaId>/.exec(push.plaintext)?.[1] ?? '';
    const res = await get(mediaId);
    expect(res.headers.get('content-type')).toBe('image/png');
    const picUrl = /<PicUrl><!\[CDATA\[([^\]]+)\]\]><\/PicUrl>/.exec(push.plaintext)?.[1] ?? '';
    expect(picUrl.startsWith(t.url)).toBe(true);
    expect((await fetch(picUrl)).status).toBe(200);
  });
});
