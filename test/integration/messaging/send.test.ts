import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePng } from '../../../src/simulator/images.js';
import { json } from '../../helpers/http.js';
import {
  imageForm,
  type MessagingEnv,
  type Onboarded,
  onboard,
  startMessagingEnv,
  uploadPng,
  userWrites,
} from './setup.js';

let env: MessagingEnv;
beforeAll(async () => {
  env = await startMessagingEnv();
});
afterAll(() => env?.close());

const send = (mp: Pick<Onboarded, 'appid' | 'apiKey'>, body: Record<string, unknown>) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, { method: 'POST', json: body, token: mp.apiKey });
const text = (openid: string, content = 'hello') => ({ openid, type: 'text', text: { content } });
const received = (appid: string) => env.sim.control.messages({ appid });

describe('POST /v1/mini-programs/:appid/messages — each kind reaches WeChat as §5.1 says', () => {
  it('text: 201, the WeChat body, and the outbound row with its content', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const res = await send(mp, text(mp.openid, 'Hello <b>世界</b>'));
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toEqual({
      id: expect.stringMatching(/^msg_[0-9A-Z]{26}$/),
      appid: mp.appid,
      openid: mp.openid,
      type: 'text',
      status: 'sent',
      sentAt: env.clock.now().toISOString(),
    });
    expect((await received(mp.appid)).map((m) => m.body)).toEqual([
      { touser: mp.openid, msgtype: 'text', text: { content: 'Hello <b>世界</b>' } },
    ]);
    const [row] = await env.h.deps.db.query<Record<string, unknown>>(
      'select tenant_id, type, body, status, sent_at from outbound_messages where id = $1',
      [body.id],
    );
    expect(row).toEqual({
      tenant_id: mp.tenantId,
      type: 'text',
      body: { text: { content: 'Hello <b>世界</b>' } },
      status: 'sent',
      sent_at: env.clock.now(),
    });
  });

  it('image: mediaId → media_id (a media id from the media route)', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const mediaId = await uploadPng(env, mp, samplePng());
    const res = await send(mp, { openid: mp.openid, type: 'image', image: { mediaId } });
    expect(res.status).toBe(201);
    expect((await json(res)).type).toBe('image');
    expect((await received(mp.appid)).map((m) => m.body)).toEqual([
      { touser: mp.openid, msgtype: 'image', image: { media_id: mediaId } },
    ]);
  });

  it('a mediaId not from the media route is forwarded as given: WeChat judges it (40007)', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const mediaId = `elsewhere-${'x'.repeat(300)}`;
    const res = await send(mp, { openid: mp.openid, type: 'image', image: { mediaId } });
    // WeChat's own answer: the id reached it (a local check would be a 422 with no wechatErrcode)
    expect(await json(res)).toMatchObject({ wechatErrcode: 40007 });
  });

  it('link: thumbUrl → thumb_url', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const link = {
      title: 'Happy Day',
      description: 'Is Really A Happy Day',
      url: 'https://shop.example/a',
      thumbUrl: 'https://shop.example/t.png',
    };
    expect((await send(mp, { openid: mp.openid, type: 'link', link })).status).toBe(201);
    expect((await received(mp.appid)).map((m) => m.body)).toEqual([
      {
        touser: mp.openid,
        msgtype: 'link',
        link: {
          title: 'Happy Day',
          description: 'Is Really A Happy Day',
          url: 'https://shop.example/a',
          thumb_url: 'https://shop.example/t.png',
        },
      },
    ]);
  });

  it('miniprogrampage: pagePath → pagepath, thumbMediaId → thumb_media_id', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const thumbMediaId = await uploadPng(env, mp, samplePng(32, 32));
    const card = { title: 'Shoes', pagePath: 'pages/item/item?id=7', thumbMediaId };
    expect(
      (await send(mp, { openid: mp.openid, type: 'miniprogrampage', miniprogrampage: card })).status,
    ).toBe(201);
    expect((await received(mp.appid)).map((m) => m.body)).toEqual([
      {
        touser: mp.openid,
        msgtype: 'miniprogrampage',
        miniprogrampage: { title: 'Shoes', pagepath: 'pages/item/item?id=7', thumb_media_id: thumbMediaId },
      },
    ]);
  });

  it('an invalid body is 422 listing every problem, and WeChat is not called', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const res = await send(mp, {
      openid: 'bad openid',
      type: 'link',
      link: { title: '', url: 'ftp://x', extra: 1 },
    });
    expect(res.status).toBe(422);
    const problem = await json(res);
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'link.description',
      'link.extra',
      'link.thumbUrl',
      'link.title',
      'link.url',
      'openid',
    ]);
    expect(await received(mp.appid)).toEqual([]);
  });

  it('text PostgreSQL cannot store (NUL, an unpaired surrogate) is 422 before WeChat is called', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const link = {
      title: 't\u0000',
      description: 'd',
      url: 'https://shop.example/a',
      thumbUrl: 'https://shop.example/t',
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [text(mp.openid, 'nul\u0000here'), 'text.content'],
      [text(mp.openid, 'lone \ud800'), 'text.content'],
      [{ openid: mp.openid, type: 'link', link }, 'link.title'],
      [{ openid: mp.openid, type: 'image', image: { mediaId: 'm\u0000' } }, 'image.mediaId'],
    ];
    for (const [body, path] of cases) {
      // twice under one key: a refusal is no send, so the retry is refused the same way
      for (let i = 0; i < 2; i++) {
        const res = await env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
          method: 'POST',
          json: body,
          token: mp.apiKey,
          headers: { 'idempotency-key': `unstorable-${path}` },
        });
        expect(res.status, path).toBe(422);
        const problem = await json(res);
        expect(problem.code).toBe('validation_failed');
        expect(problem.errors).toEqual([{ path, message: expect.stringContaining('cannot be stored') }]);
      }
    }
    expect(await received(mp.appid)).toEqual([]);
    const conversation = await json(
      env.h.request(`/v1/mini-programs/${mp.appid}/conversations/${mp.openid}`, { token: mp.apiKey }),
    );
    expect(conversation.window.remaining).toBe(5);
  });
});

describe('who may send', () => {
  it("another tenant's appid, or an unknown one, is 404 on every reply route", async () => {
    const mp = await onboard(env);
    const other = await onboard(env);
    const routes: Array<[string, string, RequestInit & { json?: unknown }]> = [
      ['POST', `/v1/mini-programs/${mp.appid}/messages`, { json: text(mp.openid) }],
      ['GET', `/v1/mini-programs/${mp.appid}/messages?openid=${mp.openid}`, {}],
      ['POST', `/v1/mini-programs/${mp.appid}/typing`, { json: { openid: mp.openid, typing: true } }],
      ['POST', `/v1/mini-programs/${mp.appid}/media`, { body: imageForm(samplePng()) }],
      // whatever the file: no 422 or 413 that would tell the appid exists
      ['POST', `/v1/mini-programs/${mp.appid}/media`, { body: imageForm(Buffer.from('not an image')) }],
      [
        'POST',
        `/v1/mini-programs/${mp.appid}/media`,
        { body: imageForm(Buffer.concat([samplePng(), Buffer.alloc(2 * 1024 * 1024)])) },
      ],
      ['GET', `/v1/mini-programs/${mp.appid}/conversations/${mp.openid}`, {}],
    ];
    for (const [method, path, init] of routes) {
      const res = await env.h.request(path, { method, token: other.apiKey, ...init });
      expect([path, res.status, (await json(res)).code]).toEqual([path, 404, 'not_found']);
      const unknown = await env.h.request(path.replace(mp.appid, 'wxunknown0000000'), {
        method,
        token: mp.apiKey,
        ...init,
      });
      expect([path, unknown.status]).toEqual([path, 404]);
    }
    expect((await env.sim.control.calls('media_upload')).filter((c) => c.appid === mp.appid)).toEqual([]);
    expect(await received(mp.appid)).toEqual([]);
  });

  it('while the instance shuts down, sends, typing and uploads are 503 and WeChat is not called', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    const before = (await env.sim.control.calls()).length;
    env.h.deps.lifecycle.stopping = true;
    env.h.deps.lifecycle.closing = true;
    try {
      const routes: Array<[string, RequestInit & { json?: unknown }]> = [
        [`/v1/mini-programs/${mp.appid}/messages`, { json: text(mp.openid) }],
        [`/v1/mini-programs/${mp.appid}/typing`, { json: { openid: mp.openid, typing: true } }],
        [`/v1/mini-programs/${mp.appid}/media`, { body: imageForm(samplePng()) }],
      ];
      for (const [path, init] of routes) {
        const res = await env.h.request(path, { method: 'POST', token: mp.apiKey, ...init });
        expect([path, res.status, (await json(res)).code]).toEqual([path, 503, 'service_unavailable']);
      }
    } finally {
      env.h.deps.lifecycle.stopping = false;
      env.h.deps.lifecycle.closing = false;
    }
    expect((await env.sim.control.calls()).length).toBe(before);
    expect(await received(mp.appid)).toEqual([]);
  });

  it('every reply route is 401 without a valid API key', async () => {
    const mp = await onboard(env);
    const routes: Array<[string, string]> = [
      ['POST', `/v1/mini-programs/${mp.appid}/messages`],
      ['GET', `/v1/mini-programs/${mp.appid}/messages?openid=${mp.openid}`],
      ['POST', `/v1/mini-programs/${mp.appid}/typing`],
      ['POST', `/v1/mini-programs/${mp.appid}/media`],
      ['GET', `/v1/mini-programs/${mp.appid}/conversations/${mp.openid}`],
    ];
    for (const [method, path] of routes) {
      for (const token of [undefined, 'kr_not_a_key']) {
        const res = await env.h.request(path, {
          method,
          token,
          json: method === 'POST' ? text(mp.openid) : undefined,
        });
        expect([path, res.status, (await json(res)).code]).toEqual([path, 401, 'unauthorized']);
      }
    }
  });

  it('a revoked mini-program is 409 mini_program_unauthorized, checked before any call', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    await env.h.deps.db.query("update authorizers set status = 'unauthorized' where appid = $1", [mp.appid]);
    const res = await send(mp, text(mp.openid));
    expect(res.status).toBe(409);
    expect((await json(res)).code).toBe('mini_program_unauthorized');
    await env.h.deps.db.query("update authorizers set status = 'reauthorization_required' where appid = $1", [
      mp.appid,
    ]);
    const again = await send(mp, text(mp.openid));
    expect([again.status, (await json(again)).code]).toEqual([409, 'mini_program_unauthorized']);
    const typing = await env.h.request(`/v1/mini-programs/${mp.appid}/typing`, {
      method: 'POST',
      token: mp.apiKey,
      json: { openid: mp.openid, typing: true },
    });
    expect(typing.status).toBe(409);
    expect(await received(mp.appid)).toEqual([]);
    // nothing was taken from the window
    const view = await json(
      env.h.request(`/v1/mini-programs/${mp.appid}/conversations/${mp.openid}`, { token: mp.apiKey }),
    );
    expect(view.window.remaining).toBe(5);
  });

  it('without permission set 19 it is 403 permission_missing, before any call', async () => {
    const mp = await onboard(env, { permissions: [17, 18] });
    const callsBefore = (await env.sim.control.calls()).length;
    const res = await send(mp, text(mp.openid));
    expect(res.status).toBe(403);
    expect((await json(res)).code).toBe('permission_missing');
    const upload = await env.h.request(`/v1/mini-programs/${mp.appid}/media`, {
      method: 'POST',
      token: mp.apiKey,
      body: imageForm(samplePng()),
    });
    expect([upload.status, (await json(upload)).code]).toEqual([403, 'permission_missing']);
    expect((await env.sim.control.calls()).length).toBe(callsBefore);
  });
});
