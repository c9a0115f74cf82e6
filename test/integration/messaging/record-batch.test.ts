import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../helpers/http.js';
import { type MessagingEnv, newUser, onboard, startMessagingEnv, userWrites } from './setup.js';

let env: MessagingEnv;
beforeAll(async () => {
  env = await startMessagingEnv();
});
afterAll(() => env?.close());

describe('sent records are group-committed', () => {
  it('concurrent sends, several to one conversation, are all stored before their 201s', async () => {
    const mp = await onboard(env);
    const other = await newUser(env, mp.appid);
    await userWrites(env, mp, mp.openid);
    await userWrites(env, mp, other);
    const openids = Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? mp.openid : other));
    const responses = await Promise.all(
      openids.map((openid, i) =>
        env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
          method: 'POST',
          json: { openid, type: 'text', text: { content: `m${i}` } },
          token: mp.apiKey,
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(openids.map(() => 201));
    const ids = await Promise.all(responses.map(async (r) => (await json(r)).id as string));
    const rows = await env.h.deps.db.query<{ id: string; openid: string; status: string }>(
      'select id, openid, status from outbound_messages where appid = $1 order by id',
      [mp.appid],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
    const convs = await env.h.deps.db.query<{ openid: string; last_outbound_at: Date | null }>(
      'select openid, last_outbound_at from conversations where appid = $1',
      [mp.appid],
    );
    expect(convs.every((c) => c.last_outbound_at !== null)).toBe(true);
  });
});
