import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';

export interface EchoBotOptions {
  /** kefu-relay's base URL */
  apiBaseUrl: string;
  apiKey: string;
  port: number;
  /** the endpoint's whsec_ secret, to check each webhook's signature */
  secret: () => string | undefined;
  log: (line: string) => void;
}

/** Standard Webhooks: any one of the space-separated v1 signatures must match. */
function verified(secret: string, id: string, timestamp: string, body: string, header: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(
    createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64'),
  );
  return header.split(' ').some((sig) => {
    const given = Buffer.from(sig.replace(/^v1,/, ''));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * The demo bot of `npm run sandbox -- --echo-bot`: a webhook receiver that answers every text message with an echo
 * through the reply API, showing the typing indicator first, so the whole loop is visible in the chat page.
 */
export async function startEchoBot(opts: EchoBotOptions): Promise<{ url: string; stop(): Promise<void> }> {
  const app = new Hono();
  const api = (path: string, body: unknown) =>
    fetch(`${opts.apiBaseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  app.post('/webhook', async (c) => {
    const body = await c.req.text();
    const secret = opts.secret();
    const id = c.req.header('webhook-id') ?? '';
    const ts = c.req.header('webhook-timestamp') ?? '';
    if (!secret || !verified(secret, id, ts, body, c.req.header('webhook-signature') ?? '')) {
      return c.text('bad signature', 401);
    }
    const event = JSON.parse(body) as {
      type: string;
      appid: string;
      data: { openid?: string; msgType?: string; text?: { content: string } };
    };
    if (event.type === 'message.received' && event.data.msgType === 'text' && event.data.openid) {
      const { appid } = event;
      const { openid } = event.data;
      const content = event.data.text?.content ?? '';
      // Answer the webhook at once; reply afterwards, as a real bot should.
      setTimeout(async () => {
        try {
          await api(`/v1/mini-programs/${appid}/typing`, { openid, typing: true });
          await new Promise((r) => setTimeout(r, 700));
          const res = await api(`/v1/mini-programs/${appid}/messages`, {
            openid,
            type: 'text',
            text: { content: `echo: ${content}` },
          });
          opts.log(`echo bot replied to ${openid}: ${res.status}`);
        } catch (err) {
          opts.log(`echo bot could not reply: ${(err as Error).message}`);
        }
      }, 0);
    }
    return c.body(null, 204);
  });

  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: opts.port }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
