import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { parseEnvelope, WeChatCrypto } from '../src/wechat/index.js';

// Phase (b): the least a durable push endpoint can do: parse the envelope, verify msg_signature (sig4),
// decrypt, one prepared INSERT committed with synchronous_commit on, then `success`. kefu-relay's ingest is
// measured against this in the same run.

const env = process.env;
const sql = postgres(env.DATABASE_URL!, { max: 10, prepare: true, onnotice: () => {} });
const crypto = new WeChatCrypto({
  token: env.WECHAT_COMPONENT_TOKEN!,
  encodingAesKey: env.WECHAT_COMPONENT_AES_KEY!,
  appid: env.WECHAT_COMPONENT_APPID!,
});

await sql`create table if not exists bench_reference_pushes (
  id bigint generated always as identity primary key,
  appid text not null,
  body text not null,
  received_at timestamptz not null default now())`;
const sync = await sql`show synchronous_commit`;

const app = new Hono();
app.post('/wechat/callback/:appid', async (c) => {
  const q = c.req.query();
  let envelope: ReturnType<typeof parseEnvelope>;
  try {
    envelope = parseEnvelope(await c.req.text());
  } catch {
    return c.text('bad request', 400);
  }
  const ok =
    q.msg_signature !== undefined &&
    crypto.verifyMsgSignature(q.msg_signature, q.timestamp ?? '', q.nonce ?? '', envelope.encrypt);
  if (!ok) return c.text('unauthorized', 401);
  let message: string;
  try {
    message = crypto.decrypt(envelope.encrypt).message;
  } catch {
    return c.text('unauthorized', 401);
  }
  await sql.unsafe(
    'insert into bench_reference_pushes (appid, body) values ($1, $2)',
    [c.req.param('appid'), message],
    {
      prepare: true,
    },
  );
  return c.text('success');
});

serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(env.PORT ?? 0) }, (info) => {
  process.stdout.write(
    `${JSON.stringify({ msg: 'listening', port: info.port, synchronousCommit: sync[0]?.synchronous_commit })}\n`,
  );
});
