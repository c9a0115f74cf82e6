import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../helpers/http.js';
import { portOpen } from '../../helpers/ports.js';
import { startReceiver } from '../../helpers/receiver.js';
import { type RunningSandbox, startSandbox } from '../../helpers/sandbox.js';

const run = promisify(execFile);
const DEMO_APPID = 'wx5a1b2c3d4e5f6a7b';
const DEMO_OPENID = 'oDemoUser0000000000000000001';

let sb: RunningSandbox;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  sb = await startSandbox();
  receiver = await startReceiver();
}, 180_000);
afterAll(async () => {
  await receiver?.close();
  if (sb?.proc.child.exitCode === null) sb.proc.child.kill('SIGKILL');
});

/** Runs one printed line in bash, as a user pasting it would, with the API key exported. */
async function paste(line: string, replace: Record<string, string> = {}): Promise<string> {
  let cmd = line;
  for (const [from, to] of Object.entries(replace)) cmd = cmd.split(from).join(to);
  const { stdout } = await run('bash', ['-c', cmd], { env: { ...process.env, KEFU_API_KEY: sb.apiKey } });
  return stdout;
}

describe('npm run sandbox (smoke)', () => {
  it('prints a key, a link, the chat page, and copy-paste curl lines that work', async () => {
    expect(sb.curlLines[0]).toBe(`export KEFU_API_KEY=${sb.apiKey}`);
    const [, webhookLine, eventsLine, replyLine] = sb.curlLines;
    expect(webhookLine).toContain('/v1/webhook-endpoints');
    expect(eventsLine).toContain('/v1/events');
    expect(replyLine).toContain('/messages');

    // Connect the demo mini-program through the printed link, as the admin's browser would.
    const landing = await fetch(sb.link);
    expect(landing.status).toBe(200);
    const href = /id="authorize"[^>]*href="([^"]+)"/
      .exec(await landing.text())?.[1]
      ?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
      .replace(/&amp;/g, '&');
    expect(href).toBeDefined();
    const authPage = new URL(href!);
    expect(authPage.port).toBe(String(sb.ports.sim));
    const simBase = `http://127.0.0.1:${sb.ports.sim}`;
    const grantRes = await fetch(`${simBase}/sim/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        appid: DEMO_APPID,
        preAuthCode: authPage.searchParams.get('pre_auth_code'),
        redirectUri: authPage.searchParams.get('redirect_uri'),
        wait: true,
      }),
    });
    const granted = await json(grantRes);
    expect(grantRes.status, JSON.stringify(granted)).toBe(200);
    const done = await fetch(granted.redirectUrl, { redirect: 'manual' });
    expect(done.status).toBe(200);
    expect(await done.text()).toMatch(/connected/i);

    const endpoint = JSON.parse(await paste(webhookLine!, { 'http://127.0.0.1:3200/webhook': receiver.url }));
    expect(endpoint.secret).toMatch(/^whsec_/);

    await fetch(`${simBase}/sim/mini-programs/${DEMO_APPID}/users/${DEMO_OPENID}/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'text', content: 'hello from the smoke test', wait: true }),
    });
    const hook = await receiver.waitFor((r) => r.body.includes('hello from the smoke test'), 15_000);
    expect(JSON.parse(hook.body)).toMatchObject({ type: 'message.received', appid: DEMO_APPID });

    const events = JSON.parse(await paste(eventsLine!));
    expect(events.data.map((e: { type: string }) => e.type)).toContain('message.received');

    const reply = JSON.parse(await paste(replyLine!, { APPID: DEMO_APPID, OPENID: DEMO_OPENID }));
    expect(reply).toMatchObject({ status: 'sent', appid: DEMO_APPID, openid: DEMO_OPENID });
    const received = await json(await fetch(`${simBase}/sim/messages?appid=${DEMO_APPID}`));
    expect(JSON.stringify(received)).toContain('Hello from kefu-relay');
  }, 120_000);

  it('stops cleanly on SIGINT: exit 0 and nothing left listening', async () => {
    expect(await sb.stop()).toBe(0);
    for (const port of Object.values(sb.ports)) expect(await portOpen(port)).toBe(false);
  }, 120_000);
});
