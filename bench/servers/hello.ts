import { serve } from '@hono/node-server';
import { Hono } from 'hono';

// Phase (a): the framework's ceiling on this machine, nothing but routing and a response.
const app = new Hono();
app.get('/', (c) => c.text('hello'));

const port = Number(process.env.PORT ?? 0);
serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: info.port })}\n`);
});
