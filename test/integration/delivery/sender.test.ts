import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../../../src/delivery/sender.js';

// The webhook client against a real local server: what an attempt records for each kind of answer.

let server: Server;
let base: string;
const sender = new WebhookSender({ timeoutMs: 300, allowPrivateNetworks: true });

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/utf8') {
        // 3 bytes per character: the 1 KiB cut falls inside one
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('好'.repeat(1000));
      } else if (req.url === '/busy') {
        res.writeHead(503, { 'retry-after': '120' });
        res.end('later');
      } else if (req.url === '/huge') {
        res.writeHead(200);
        res.end(Buffer.alloc(1024 * 1024, 'a'));
      } else if (req.url === '/nul') {
        res.writeHead(500);
        res.end(Buffer.from([0x6f, 0x00, 0x6b]));
      } else if (req.url === '/hang') {
        // never answers
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await sender.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const post = (path: string) => sender.post(`${base}${path}`, { 'content-type': 'application/json' }, '{}');

describe('WebhookSender', () => {
  it('keeps the first 1 KiB of the answer without cutting a character in two', async () => {
    const r = await post('/utf8');
    expect(r).toMatchObject({ statusCode: 200, error: null, retryAfter: null });
    expect(r.body).toBe('好'.repeat(341));
  });

  it('reports the status and Retry-After of a refusal', async () => {
    expect(await post('/busy')).toMatchObject({
      statusCode: 503,
      body: 'later',
      retryAfter: '120',
      error: null,
    });
    expect(await post('/empty')).toMatchObject({ statusCode: 204, body: '', error: null });
  });

  it('stops reading a huge answer but counts its status', async () => {
    const r = await post('/huge');
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe('a'.repeat(1024));
  });

  it('replaces NUL, which PostgreSQL text cannot hold', async () => {
    expect((await post('/nul')).body).toBe('o\ufffdk');
  });

  it('gives up on an endpoint that does not answer within the timeout', async () => {
    const started = Date.now();
    const r = await post('/hang');
    expect(r).toMatchObject({ statusCode: null, error: 'timed out after 300 ms', body: null });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('says why a connection failed', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await sender.post(`http://127.0.0.1:${port}/`, {}, '{}');
    expect(r.statusCode).toBeNull();
    expect(r.error).toMatch(/ECONNREFUSED/);
  });
});
