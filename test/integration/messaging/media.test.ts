import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePng } from '../../../src/simulator/images.js';
import { json } from '../../helpers/http.js';
import { imageForm, type MessagingEnv, type Onboarded, onboard, startMessagingEnv } from './setup.js';

let env: MessagingEnv;
let mp: Onboarded;
beforeAll(async () => {
  env = await startMessagingEnv();
  mp = await onboard(env);
});
afterAll(() => env?.close());

const upload = (body: FormData | string, headers: Record<string, string> = {}) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/media`, { method: 'POST', body, token: mp.apiKey, headers });
const uploads = async () => (await env.sim.control.calls('media_upload')).length;
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  Buffer.from('JFIF\0'),
  Buffer.alloc(64),
  Buffer.from([0xff, 0xd9]),
]);

describe('POST /v1/mini-programs/:appid/media', () => {
  it('a PNG is streamed to media/upload (field media): 201 with mediaId and a 3-day expiry', async () => {
    const png = samplePng(40, 30);
    const res = await upload(imageForm(png));
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toEqual({
      mediaId: expect.any(String),
      type: 'image',
      createdAt: expect.any(String),
      expiresAt: new Date(new Date(body.createdAt).getTime() + 3 * 86_400_000).toISOString(),
    });
    // the simulator stored exactly the bytes sent
    const stored = await fetch(`${env.sim.url}/sim/media/${body.mediaId}`);
    expect(stored.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await stored.arrayBuffer()).equals(png)).toBe(true);
  });

  it('JPEG and GIF are accepted; the type comes from the bytes, not the declared type or name', async () => {
    for (const [bytes, type] of [
      [JPEG, 'image/jpeg'],
      [GIF, 'image/gif'],
    ] as const) {
      const res = await upload(imageForm(bytes, 'whatever.txt', 'text/plain'));
      expect(res.status).toBe(201);
      const stored = await fetch(`${env.sim.url}/sim/media/${(await json(res)).mediaId}`);
      expect(stored.headers.get('content-type')).toBe(type);
    }
  });

  it('a file that is not an image is 422 before any upload, whatever it claims to be', async () => {
    const before = await uploads();
    const res = await upload(
      imageForm(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.png', 'image/png'),
    );
    expect(res.status).toBe(422);
    expect(await json(res)).toMatchObject({ code: 'validation_failed', errors: [{ path: 'file' }] });
    expect(await uploads()).toBe(before);
  });

  it('over 2 MiB is 413 payload_too_large before any upload (just over, and far over)', async () => {
    const before = await uploads();
    const png = samplePng();
    const justOver = Buffer.concat([png, Buffer.alloc(2 * 1024 * 1024 + 1 - png.length)]);
    const res = await upload(imageForm(justOver));
    expect([res.status, (await json(res)).code]).toEqual([413, 'payload_too_large']);
    const farOver = Buffer.concat([png, Buffer.alloc(3 * 1024 * 1024)]);
    const far = await upload(imageForm(farOver));
    const problem = await json(far);
    expect([far.status, problem.code]).toEqual([413, 'payload_too_large']);
    // the limit named is the image's, as for the one just over, not the form's framing allowance
    expect(problem.detail).toContain('2097152 bytes (2 MiB)');
    expect(await uploads()).toBe(before);
    // exactly 2 MiB is allowed
    const exact = Buffer.concat([png, Buffer.alloc(2 * 1024 * 1024 - png.length)]);
    expect((await upload(imageForm(exact))).status).toBe(201);
  });

  it('no file field is 422', async () => {
    const form = new FormData();
    form.set('other', 'x');
    const res = await upload(form);
    const problem = await json(res);
    expect([res.status, problem.code]).toEqual([422, 'validation_failed']);
    expect(problem.errors).toEqual([{ path: 'file', message: expect.stringMatching(/^is required/) }]);
  });

  it('a JSON body is 422 saying to send multipart/form-data', async () => {
    const res = await env.h.request(`/v1/mini-programs/${mp.appid}/media`, {
      method: 'POST',
      json: { file: 'x' },
      token: mp.apiKey,
    });
    const problem = await json(res);
    expect([res.status, problem.code]).toEqual([422, 'validation_failed']);
    expect(problem.detail).toContain('multipart/form-data');
  });

  it("WeChat's refusals map like any call (40004 → 502 wechat_error with the errcode)", async () => {
    await env.sim.control.addFault({ api: 'media_upload', kind: 'errcode', errcode: 40004 });
    const res = await upload(imageForm(samplePng()));
    expect(await json(res)).toMatchObject({ status: 502, code: 'wechat_error', wechatErrcode: 40004 });
  });

  it('an expired token is refreshed and the upload retried with the whole file', async () => {
    await env.sim.control.invalidateToken('authorizer', mp.appid);
    const png = samplePng(20, 20);
    const res = await upload(imageForm(png));
    expect(res.status).toBe(201);
    const stored = await fetch(`${env.sim.url}/sim/media/${(await json(res)).mediaId}`);
    expect(Buffer.from(await stored.arrayBuffer()).equals(png)).toBe(true);
  });

  it('the same Idempotency-Key and image answers the first mediaId without a second upload', async () => {
    const png = samplePng(10, 10);
    const headers = { 'idempotency-key': `media-${Math.random()}` };
    const first = await json(upload(imageForm(png), headers));
    const before = await uploads();
    const again = await upload(imageForm(png), headers);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(first);
    expect(await uploads()).toBe(before);
    const other = await upload(imageForm(samplePng(11, 11)), headers);
    expect([other.status, (await json(other)).code]).toEqual([422, 'idempotency_key_reused']);
  });
});
