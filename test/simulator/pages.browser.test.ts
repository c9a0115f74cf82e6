import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, noBrowser } from '../helpers/browser.js';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { componentToken, DEMO_APPID, DEMO_OPENID, openPush, Receiver, wx } from './support.js';

let t: TestSimulator;
let relay: Receiver;
let browser: Browser;
let accessToken = '';
const background: Promise<unknown>[] = [];

/** A tiny tenant bot: shows typing, then echoes every text through custom/send. */
async function echo(openid: string, content: string): Promise<void> {
  const post = (path: string, body: unknown) => wx(t, path, body, { access_token: accessToken });
  await post('/cgi-bin/message/custom/typing', { touser: openid, command: 'Typing' });
  // Long enough for the page's 1 s poll to show the indicator.
  await new Promise((r) => setTimeout(r, 1500));
  await post('/cgi-bin/message/custom/send', {
    touser: openid,
    msgtype: 'text',
    text: { content: `echo: ${content}` },
  });
}

describe.skipIf(noBrowser)('simulator pages in a browser', () => {
  beforeAll(async () => {
    relay = await new Receiver().start();
    relay.fallback = (body, url) => {
      if (url.pathname.startsWith('/wechat/callback/')) {
        const { fields } = openPush(t.credentials, {
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          body,
        });
        if (fields.MsgType === 'text') background.push(echo(fields.FromUserName ?? '', fields.Content ?? ''));
      }
      return url.pathname === '/connected' ? 'connected' : 'success';
    };
    t = await startTestSimulator({ relayBaseUrl: relay.url });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(background);
    await browser?.close();
    await t?.close();
    await relay?.stop();
  });

  it('authorizes on the page, then chats: session, text, typing indicator, reply, pushes panel', async () => {
    const page = await browser.newPage();
    const ct = await componentToken(t);
    const pre = await wx(
      t,
      '/cgi-bin/component/api_create_preauthcode',
      { component_appid: t.credentials.componentAppid },
      { component_access_token: ct },
    );
    const link = new URL(`${t.url}/cgi-bin/componentloginpage`);
    link.search = new URLSearchParams({
      component_appid: t.credentials.componentAppid,
      pre_auth_code: String(pre.body.pre_auth_code),
      redirect_uri: `${relay.url}/connected?state=s1`,
      auth_type: '2',
    }).toString();
    await page.goto(link.toString());
    expect(await page.isChecked(`#mp-${DEMO_APPID}`)).toBe(true);
    expect(await page.isChecked('#perm-19')).toBe(true);
    await page.click('#authorize');
    await page.waitForURL(/\/connected\?state=s1&auth_code=/);
    const authCode = new URL(page.url()).searchParams.get('auth_code') ?? '';
    const auth = await wx(
      t,
      '/cgi-bin/component/api_query_auth',
      { component_appid: t.credentials.componentAppid, authorization_code: authCode },
      { component_access_token: ct },
    );
    accessToken = String((auth.body.authorization_info as Record<string, unknown>).authorizer_access_token);

    await page.goto(`${t.url}/chat`);
    // A string expression: the tsconfig has no DOM types.
    await page.waitForFunction(`document.querySelector('#mini-program').value === '${DEMO_APPID}'`);
    expect(await page.inputValue('#user')).toBe(DEMO_OPENID);
    await page.click('#open-session');
    await page.waitForSelector('#messages .msg.system');
    await page.fill('#message-input', 'hello simulator');
    await page.click('#send');
    await page.waitForSelector('#messages .from-user :text("hello simulator")');
    await page.waitForSelector('#typing', { state: 'visible', timeout: 5000 });
    await page.waitForSelector('#messages .from-tenant :text("echo: hello simulator")', { timeout: 10_000 });
    await page.waitForSelector('#typing', { state: 'hidden', timeout: 5000 });
    await page.waitForSelector('#pushes .push.delivered');
    expect(await page.textContent('#pushes')).toContain('body "success"');

    await page.click('#send-image');
    await page.waitForSelector('#messages .from-user img.photo');
    await page.click('#send-card');
    await page.waitForSelector('#messages .from-user .card-title');
    await page.close();
  });
});
