import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type WeChatCallEvent, WeChatClient, type WeChatClientOptions } from '../../../src/wechat/client.js';
import { ERRMSG, WeChatApiError, WeChatUnavailableError } from '../../../src/wechat/errors.js';

// A stand-in for api.weixin.qq.com: per-path answer queues (the last answer repeats) and a request log.
type Answer = (c: Context) => Response | Promise<Response>;
interface Received {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  json?: unknown;
  form?: FormData;
}

const answers = new Map<string, Answer[]>();
const received: Received[] = [];
const hanging: (() => void)[] = [];
const clients: WeChatClient[] = [];
let server: ServerType;
let baseUrl: string;

const RID = 'rid: 6625f5d2-3b1a7c44-0f1e2d3c';
const ok =
  (body: object = {}): Answer =>
  (c) =>
    c.json({ ...body });
const wxError =
  (errcode: number): Answer =>
  (c) =>
    c.json({ errcode, errmsg: `${ERRMSG[errcode]} ${RID}` });
const hang: Answer = () =>
  new Promise<Response>((resolve) => hanging.push(() => resolve(new Response('{}'))));
const answer = (path: string, ...queue: Answer[]) => answers.set(`/${path}`, queue);

beforeAll(async () => {
  const app = new Hono();
  app.post('/*', async (c) => {
    const url = new URL(c.req.url);
    const entry: Received = {
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: c.req.header(),
    };
    if ((c.req.header('content-type') ?? '').startsWith('multipart/')) entry.form = await c.req.formData();
    else entry.json = JSON.parse(await c.req.text());
    received.push(entry);
    const queue = answers.get(url.pathname.replace(/^\/prefix/, '')) ?? [ok({ errcode: 0, errmsg: 'ok' })];
    const next = queue.length > 1 ? queue.shift()! : queue[0]!;
    return next(c);
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  answers.clear();
  received.length = 0;
});

afterEach(async () => {
  for (const release of hanging.splice(0)) release();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function makeClient(extra: Partial<WeChatClientOptions> = {}) {
  const sleeps: number[] = [];
  const events: WeChatCallEvent[] = [];
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const client = new WeChatClient({
    baseUrl,
    logger,
    sleep: async (ms) => void sleeps.push(ms),
    onCall: (e) => events.push(e),
    ...extra,
  });
  clients.push(client);
  return { client, sleeps, events, lines };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('typed methods', () => {
  it('componentToken: no token in the query, snake_case body, typed result', async () => {
    answer('cgi-bin/component/api_component_token', ok({ component_access_token: 'CAT', expires_in: 7200 }));
    const { client, events } = makeClient();
    const result = await client.componentToken({
      componentAppid: 'wxc',
      componentAppsecret: 'sec',
      ticket: 'ticket@@@t',
    });
    expect(result).toEqual({ componentAccessToken: 'CAT', expiresIn: 7200 });
    expect(received[0]).toMatchObject({
      path: '/cgi-bin/component/api_component_token',
      query: {},
      json: { component_appid: 'wxc', component_appsecret: 'sec', component_verify_ticket: 'ticket@@@t' },
    });
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(events).toEqual([
      {
        api: 'cgi-bin/component/api_component_token',
        errcode: 0,
        outcome: 'ok',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('component calls put the token in ?component_access_token= and map WeChat shapes', async () => {
    const funcInfo = [
      { funcscope_category: { id: 17 } },
      { funcscope_category: { id: 18 }, confirm_info: { need_confirm: 0 } },
      { funcscope_category: { id: 19 } },
    ];
    answer(
      'cgi-bin/component/api_create_preauthcode',
      ok({ pre_auth_code: 'preauthcode@@@p', expires_in: 600 }),
    );
    answer(
      'cgi-bin/component/api_query_auth',
      ok({
        authorization_info: {
          authorizer_appid: 'wxa',
          authorizer_access_token: 'AT',
          expires_in: 7200,
          authorizer_refresh_token: 'RT',
          func_info: funcInfo,
        },
      }),
    );
    answer(
      'cgi-bin/component/api_authorizer_token',
      ok({ authorizer_access_token: 'AT2', expires_in: 7200, authorizer_refresh_token: 'RT2' }),
    );
    answer(
      'cgi-bin/component/api_get_authorizer_info',
      ok({
        authorizer_info: {
          nick_name: 'Shop',
          head_img: 'http://img',
          user_name: 'gh_1',
          principal_name: 'Co',
          account_status: 1,
          MiniProgramInfo: { visit_status: 0 },
        },
        authorization_info: { authorizer_appid: 'wxa', authorizer_refresh_token: 'RT3', func_info: funcInfo },
      }),
    );
    answer(
      'cgi-bin/component/api_get_authorizer_list',
      ok({
        total_count: 2,
        list: [
          { authorizer_appid: 'wxa', refresh_token: 'RTa', auth_time: 1558000607 },
          { authorizer_appid: 'wxb', auth_time: 1558000608 },
        ],
      }),
    );
    const { client } = makeClient();

    expect(await client.createPreAuthCode('CAT', 'wxc')).toEqual({
      preAuthCode: 'preauthcode@@@p',
      expiresIn: 600,
    });
    expect(await client.queryAuth('CAT', 'wxc', 'queryauthcode@@@q')).toEqual({
      authorizerAppid: 'wxa',
      accessToken: 'AT',
      expiresIn: 7200,
      refreshToken: 'RT',
      permissions: [17, 18, 19],
    });
    expect(await client.authorizerToken('CAT', 'wxc', 'wxa', 'RT')).toEqual({
      accessToken: 'AT2',
      expiresIn: 7200,
      refreshToken: 'RT2',
    });
    expect(await client.getAuthorizerInfo('CAT', 'wxc', 'wxa')).toEqual({
      nickname: 'Shop',
      userName: 'gh_1',
      headImg: 'http://img',
      principalName: 'Co',
      accountStatus: 1,
      isMiniProgram: true,
      permissions: [17, 18, 19],
      refreshToken: 'RT3',
    });
    expect(await client.getAuthorizerList('CAT', 'wxc', 0, 100)).toEqual({
      totalCount: 2,
      list: [
        { authorizerAppid: 'wxa', refreshToken: 'RTa', authTime: 1558000607 },
        { authorizerAppid: 'wxb', authTime: 1558000608 },
      ],
    });
    await client.startPushTicket('wxc', 'sec');

    for (const r of received.slice(0, 5)) expect(r.query).toEqual({ component_access_token: 'CAT' });
    expect(received[1]!.json).toEqual({ component_appid: 'wxc', authorization_code: 'queryauthcode@@@q' });
    expect(received[2]!.json).toEqual({
      component_appid: 'wxc',
      authorizer_appid: 'wxa',
      authorizer_refresh_token: 'RT',
    });
    expect(received[4]!.json).toEqual({ component_appid: 'wxc', offset: 0, count: 100 });
    expect(received[5]).toMatchObject({
      path: '/cgi-bin/component/api_start_push_ticket',
      query: {},
      json: { component_appid: 'wxc', component_secret: 'sec' },
    });
  });

  it('authorizer calls put the authorizer token in ?access_token=', async () => {
    const { client } = makeClient();
    await client.customSend('AT', { touser: 'o1', msgtype: 'text', text: { content: 'Hello World' } });
    await client.typing('AT', 'o1', 'Typing');
    expect(received.map((r) => [r.path, r.query, r.json])).toEqual([
      [
        '/cgi-bin/message/custom/send',
        { access_token: 'AT' },
        { touser: 'o1', msgtype: 'text', text: { content: 'Hello World' } },
      ],
      ['/cgi-bin/message/custom/typing', { access_token: 'AT' }, { touser: 'o1', command: 'Typing' }],
    ]);
  });

  it('a base URL with a path prefix keeps it', async () => {
    const { client } = makeClient({ baseUrl: `${baseUrl}/prefix/` });
    await client.typing('AT', 'o1', 'CancelTyping');
    expect(received[0]!.path).toBe('/prefix/cgi-bin/message/custom/typing');
  });

  it('a success answer missing a required field is a bad response', async () => {
    answer('cgi-bin/component/api_component_token', ok({ expires_in: 7200 }));
    const err = await rejection(
      makeClient().client.componentToken({ componentAppid: 'a', componentAppsecret: 'b', ticket: 'c' }),
    );
    expect(err).toBeInstanceOf(WeChatUnavailableError);
    expect(err).toMatchObject({ reason: 'bad_response' });
  });
});

describe('errors and retries', () => {
  it('a non-zero errcode is a WeChatApiError with the rid, not retried', async () => {
    answer('cgi-bin/message/custom/send', wxError(45015));
    const { client, sleeps, events } = makeClient();
    const err = await rejection(
      client.customSend('AT', { touser: 'o', msgtype: 'image', image: { media_id: 'm' } }),
    );
    expect(err).toBeInstanceOf(WeChatApiError);
    expect(err).toMatchObject({
      errcode: 45015,
      rid: '6625f5d2-3b1a7c44-0f1e2d3c',
      api: 'cgi-bin/message/custom/send',
    });
    expect((err as WeChatApiError).info.product).toBe('send_window_closed');
    expect(received).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(events.map((e) => [e.outcome, e.errcode])).toEqual([['error', 45015]]);
  });

  it('busy (-1) is retried exactly twice after 250 ms and 1 s, then unavailable with the errcode', async () => {
    answer('cgi-bin/message/custom/send', wxError(-1));
    const { client, sleeps, events } = makeClient();
    const err = await rejection(
      client.customSend('AT', { touser: 'o', msgtype: 'text', text: { content: 'x' } }),
    );
    expect(err).toBeInstanceOf(WeChatUnavailableError);
    expect(err).toMatchObject({ reason: 'busy', errcode: -1, sent: false });
    expect(received).toHaveLength(3);
    expect(sleeps).toEqual([250, 1000]);
    expect(events.map((e) => [e.outcome, e.errcode])).toEqual([
      ['unavailable', -1],
      ['unavailable', -1],
      ['unavailable', -1],
    ]);
  });

  it('busy (-1000) then success succeeds after one retry', async () => {
    answer(
      'cgi-bin/component/api_create_preauthcode',
      wxError(-1000),
      ok({ pre_auth_code: 'p', expires_in: 600 }),
    );
    const { client, sleeps } = makeClient();
    expect(await client.createPreAuthCode('CAT', 'wxc')).toEqual({ preAuthCode: 'p', expiresIn: 600 });
    expect(received).toHaveLength(2);
    expect(sleeps).toEqual([250]);
  });

  it('send: a timeout is unavailable at once, sent=true, never retried', async () => {
    answer('cgi-bin/message/custom/send', hang);
    const { client, sleeps } = makeClient({ timeoutMs: 150 });
    const err = await rejection(
      client.customSend('AT', { touser: 'o', msgtype: 'text', text: { content: 'x' } }),
    );
    expect(err).toBeInstanceOf(WeChatUnavailableError);
    expect(err).toMatchObject({ reason: 'timeout', sent: true });
    expect(received).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('idempotent: a timeout is retried', async () => {
    answer('cgi-bin/component/api_create_preauthcode', hang, ok({ pre_auth_code: 'p', expires_in: 600 }));
    const { client, sleeps } = makeClient({ timeoutMs: 150 });
    expect((await client.createPreAuthCode('CAT', 'wxc')).preAuthCode).toBe('p');
    expect(received).toHaveLength(2);
    expect(sleeps).toEqual([250]);
  });

  it('a non-JSON answer is unavailable (bad_response); retried only when idempotent', async () => {
    answer('cgi-bin/component/api_get_authorizer_info', (c) => c.html('<html>gateway</html>'));
    answer('cgi-bin/message/custom/send', (c) => c.text('success'));
    const { client } = makeClient();
    expect(await rejection(client.getAuthorizerInfo('CAT', 'wxc', 'wxa'))).toMatchObject({
      reason: 'bad_response',
      sent: true,
    });
    expect(received).toHaveLength(3);
    expect(
      await rejection(client.customSend('AT', { touser: 'o', msgtype: 'text', text: { content: 'x' } })),
    ).toMatchObject({
      reason: 'bad_response',
    });
    expect(received).toHaveLength(4);
  });

  it('a non-2xx answer is unavailable even with a JSON body', async () => {
    answer('cgi-bin/message/custom/typing', (c) => c.json({ errcode: 0, errmsg: 'ok' }, 502));
    const err = await rejection(makeClient().client.typing('AT', 'o', 'Typing'));
    expect(err).toBeInstanceOf(WeChatUnavailableError);
    expect((err as Error).message).toContain('HTTP 502');
  });

  it('a refused connection is a network error that was not sent', async () => {
    const { client, sleeps } = makeClient({ baseUrl: 'http://127.0.0.1:1' });
    const err = await rejection(
      client.customSend('AT', { touser: 'o', msgtype: 'text', text: { content: 'x' } }),
    );
    expect(err).toMatchObject({ reason: 'network', sent: false });
    expect(sleeps).toEqual([]);
  });
});

describe('uploadMedia', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

  it('sends multipart field "media" with filename and type, ?type=image; created_at may be a string', async () => {
    answer('cgi-bin/media/upload', ok({ type: 'image', media_id: 'MID', created_at: '1713424427' }));
    const result = await makeClient().client.uploadMedia('AT', {
      filename: 'a "b".png',
      contentType: 'image/png',
      data: png,
    });
    expect(result).toEqual({ mediaId: 'MID', type: 'image', createdAt: new Date(1713424427000) });
    expect(received[0]!.query).toEqual({ access_token: 'AT', type: 'image' });
    const file = received[0]!.form!.get('media') as File;
    // Sent percent-encoded as browsers do; a WHATWG form parser decodes it back.
    expect(file.name).toBe('a "b".png');
    expect(file.type).toBe('image/png');
    expect(Buffer.from(await file.arrayBuffer())).toEqual(png);
  });

  it('streams an iterable source with its Content-Length, and never replays it', async () => {
    answer(
      'cgi-bin/media/upload',
      wxError(-1),
      ok({ type: 'image', media_id: 'MID2', created_at: 1713424427 }),
    );
    async function* chunks() {
      yield png.subarray(0, 4);
      yield png.subarray(4);
    }
    const { client } = makeClient();
    const err = await rejection(
      client.uploadMedia('AT', {
        filename: 'x.png',
        contentType: 'image/png',
        data: chunks(),
        size: png.length,
      }),
    );
    expect(err).toMatchObject({ reason: 'busy' });
    expect(received).toHaveLength(1);
    expect(Number(received[0]!.headers['content-length'])).toBeGreaterThan(png.length);
    const file = received[0]!.form!.get('media') as File;
    expect(Buffer.from(await file.arrayBuffer())).toEqual(png);
    const retried = await client.uploadMedia('AT', {
      filename: 'x.png',
      contentType: 'image/png',
      data: png,
    });
    expect(retried.mediaId).toBe('MID2');
  });
});

describe('logging', () => {
  it('never writes a token or secret into a log line or an error, even when WeChat echoes them', async () => {
    const secrets = [
      'CAT_SECRET_1',
      'AT_SECRET_2',
      'APPSECRET_3',
      'ticket@@@SECRET_4',
      'RT_SECRET_5',
      'queryauthcode@@@SECRET_6',
    ];
    // An errmsg that repeats the whole request: the URL with its query and the JSON body.
    const echo: Answer = (c) =>
      c.json({
        errcode: 40001,
        errmsg: `${c.req.url} ${JSON.stringify(received.at(-1)?.json ?? '')} ${RID}`,
      });
    for (const path of [
      'component/api_component_token',
      'component/api_query_auth',
      'component/api_authorizer_token',
      'media/upload',
    ]) {
      answer(`cgi-bin/${path}`, echo);
    }
    answer('cgi-bin/message/custom/send', wxError(-1));
    const { client, lines } = makeClient();
    const calls: (() => Promise<unknown>)[] = [
      () =>
        client.componentToken({
          componentAppid: 'wxc',
          componentAppsecret: 'APPSECRET_3',
          ticket: 'ticket@@@SECRET_4',
        }),
      () => client.queryAuth('CAT_SECRET_1', 'wxc', 'queryauthcode@@@SECRET_6'),
      () => client.authorizerToken('CAT_SECRET_1', 'wxc', 'wxa', 'RT_SECRET_5'),
      () =>
        client.uploadMedia('AT_SECRET_2', {
          filename: 'x.png',
          contentType: 'image/png',
          data: Buffer.from('x'),
        }),
      () => client.customSend('AT_SECRET_2', { touser: 'o', msgtype: 'text', text: { content: 'x' } }),
    ];
    const errors: Error[] = [];
    for (const call of calls) errors.push((await rejection(call())) as Error);

    const echoed = errors.slice(0, 4) as WeChatApiError[];
    for (const err of echoed) expect(err.errmsg).toContain('[redacted]');
    expect(echoed.map((e) => e.rid)).toEqual(new Array(4).fill('6625f5d2-3b1a7c44-0f1e2d3c'));
    const logged = lines.join('\n');
    expect(logged).toContain('"errcode":40001');
    expect(logged).toContain('"reason":"busy"');
    expect(logged).toContain('"access_token":"[redacted]"');
    const shown = logged + errors.map((e) => `${e.message} ${(e as { errmsg?: string }).errmsg}`).join('\n');
    for (const secret of secrets) expect(shown).not.toContain(secret);
  });
});
