import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, noBrowser } from '../../helpers/browser.js';
import { type RunningSandbox, startSandbox } from '../../helpers/sandbox.js';

/** Set UPDATE_SCREENSHOTS=1 to refresh the README's screenshots from this run. */
const SHOT_DIR = process.env.UPDATE_SCREENSHOTS
  ? join(import.meta.dirname, '..', '..', '..', 'docs')
  : undefined;

let sb: RunningSandbox;
let browser: Browser;
beforeAll(async () => {
  if (noBrowser) return;
  sb = await startSandbox(['--echo-bot']);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await sb?.stop();
});

describe.skipIf(noBrowser)('sandbox in a browser', () => {
  it('authorizes a mini-program on the simulator page, chats, and sees the echo bot reply', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const offsite: string[] = [];
    page.on('request', (req) => {
      const host = new URL(req.url()).hostname;
      if (!['localhost', '127.0.0.1'].includes(host) && !req.url().startsWith('data:'))
        offsite.push(req.url());
    });

    await page.goto(sb.link);
    await page.click('#authorize');
    // the simulator's authorization page: the demo mini-program is preselected, permission 19 ticked
    await page.waitForSelector('#authorize');
    if (SHOT_DIR) await page.screenshot({ path: join(SHOT_DIR, 'authorize.png') });
    await page.click('#authorize');
    await page.waitForLoadState('load');
    expect(await page.content()).toMatch(/connected/i);

    await page.goto(sb.chatUrl);
    await page.waitForFunction("document.querySelector('#mini-program').options.length > 0");
    await page.click('#open-session');
    await page.fill('#message-input', 'hello kefu-relay');
    await page.click('#send');
    await page.waitForSelector('#messages :text("echo: hello kefu-relay")', { timeout: 20_000 });
    await page.waitForSelector('#pushes :text("success")', { timeout: 5_000 });
    if (SHOT_DIR) {
      mkdirSync(SHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(SHOT_DIR, 'chat.png') });
    }
    expect(offsite).toEqual([]);

    const docs = await browser.newPage();
    docs.on('request', (req) => {
      if (!/^http:\/\/(localhost|127\.0\.0\.1)[:/]/.test(req.url())) offsite.push(req.url());
    });
    await docs.goto(`http://localhost:${sb.ports.api}/docs`);
    await docs.waitForSelector('text=Create a tenant', { timeout: 20_000 });
    // no developer toolbar (it offers to upload the document to Scalar's hosted registry), even on localhost
    expect(await docs.locator('text=Deploy').count()).toBe(0);
    expect(await docs.locator('text=Open API Client').count()).toBe(0);
    await docs.close();
    expect(offsite).toEqual([]);
  }, 120_000);
});
