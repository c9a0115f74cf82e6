import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.js';
import { giveBackAllowance, takeAllowanceRefusal } from '../../../src/messaging/allowance.js';
import {
  type InboundAction,
  readConversation,
  recordInboundAction,
  recordInboundActions,
  toWindowState,
} from '../../../src/messaging/conversations.js';
import { openSend } from '../../../src/messaging/gate.js';
import type { SendCheck, WindowLimits } from '../../../src/messaging/window.js';
import { createTestDatabase, onPostgres, type TestDatabase } from '../../helpers/db.js';

const LIMITS: WindowLimits = {
  enterSession: { count: 1, seconds: 60 },
  userMessage: { count: 5, seconds: 172_800 },
};
const T0 = 1_800_000_000; // unix seconds of the first push
let tdb: TestDatabase;
let db: Database;
let seq = 0;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  await db.query("insert into tenants (id, name) values ('tnt_sql', 'SQL')");
  await db.query(
    "insert into authorizers (appid, tenant_id, status, permissions) values ('wxsqlapp', 'tnt_sql', 'authorized', '{19}')",
  );
});

/** A send as the reply API takes it: the gate statement with the allowance, then the reason when refused. */
async function takeForSend(openid: string, now: Date): Promise<SendCheck> {
  const { taken } = await openSend(db.query, {
    tenantId: 'tnt_sql',
    appid: 'wxsqlapp',
    openid,
    now,
    takeAllowance: true,
  });
  return taken !== null ? 'ok' : takeAllowanceRefusal(db.query, 'wxsqlapp', openid, now);
}
afterAll(() => tdb?.drop());

type Step = ['enter' | 'msg' | 'send', number];

/** The worked examples through the SQL: actions by recordInboundAction in a transaction, sends by the reply API's gate statement. */
async function replay(steps: Step[]): Promise<{ outcomes: SendCheck[]; openid: string }> {
  const openid = `o_sql_${++seq}`;
  const outcomes: SendCheck[] = [];
  for (const [op, t] of steps) {
    if (op === 'send') {
      outcomes.push(await takeForSend(openid, new Date((T0 + t) * 1000)));
    } else {
      const action = op === 'enter' ? 'enter_session' : 'user_message';
      await db.transaction((q) =>
        recordInboundAction(
          q,
          { appid: 'wxsqlapp', openid, action, createTime: T0 + t, receivedAt: new Date((T0 + t) * 1000) },
          LIMITS,
        ),
      );
    }
  }
  return { outcomes, openid };
}

const state = async (openid: string) => {
  const s = toWindowState(await readConversation(db.query, 'wxsqlapp', openid));
  return s && { remaining: s.remaining, deadline: s.deadline === null ? null : s.deadline - T0 };
};
const sends = (from: number, to: number): Step[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ['send', from + i]);

describe('send window in SQL: the worked examples of wechat-protocol.md §7', () => {
  it('#1', async () => {
    const r = await replay([
      ['send', 0],
      ['enter', 5],
      ['send', 10],
      ['send', 20],
    ]);
    expect(r.outcomes).toEqual(['send_window_closed', 'ok', 'send_limit_reached']);
    expect(await state(r.openid)).toEqual({ remaining: 0, deadline: 65 });
  });
  it('#2', async () => {
    expect(
      (
        await replay([
          ['enter', 0],
          ['send', 60],
        ])
      ).outcomes,
    ).toEqual(['send_window_closed']);
    expect(
      (
        await replay([
          ['enter', 0],
          ['send', 59],
        ])
      ).outcomes,
    ).toEqual(['ok']);
  });
  it('#3', async () => {
    const r = await replay([['msg', 0], ...sends(1, 5), ['send', 6], ['msg', 100], ['send', 101]]);
    expect(r.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'send_limit_reached', 'ok']);
    expect(await state(r.openid)).toEqual({ remaining: 4, deadline: 172_900 });
  });
  it('#4', async () => {
    const r = await replay([['msg', 0], ['msg', 10], ...sends(12, 16), ['send', 17]]);
    expect(r.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'send_limit_reached']);
    expect(await state(r.openid)).toEqual({ remaining: 0, deadline: 172_810 });
  });
  it('#5', async () => {
    const r = await replay([
      ['enter', 0],
      ['msg', 30],
      ...sends(31, 34),
      ['enter', 3600],
      ['send', 3601],
      ['enter', 7200],
      ['send', 100_000],
    ]);
    expect(r.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(await state(r.openid)).toEqual({ remaining: 0, deadline: 172_830 });
  });
  it('#6', async () => {
    const r = await replay([
      ['msg', 0],
      ['enter', 172_900],
      ['send', 172_901],
      ['send', 172_902],
      ['send', 172_960],
    ]);
    expect(r.outcomes).toEqual(['ok', 'send_limit_reached', 'send_window_closed']);
    expect(await state(r.openid)).toEqual({ remaining: 0, deadline: 172_960 });
  });
});

describe('a failed send gives its message back, and only what it took (§7: failed sends do not count)', () => {
  const act = (openid: string, action: 'enter_session' | 'user_message', t: number) =>
    db.transaction((q) =>
      recordInboundAction(
        q,
        { appid: 'wxsqlapp', openid, action, createTime: T0 + t, receivedAt: new Date((T0 + t) * 1000) },
        LIMITS,
      ),
    );
  const take = async (openid: string, t: number) => {
    const { taken } = await openSend(db.query, {
      tenantId: 'tnt_sql',
      appid: 'wxsqlapp',
      openid,
      now: new Date((T0 + t) * 1000),
      takeAllowance: true,
    });
    if (!taken) throw new Error('nothing taken');
    return taken;
  };
  const giveBack = (openid: string, taken: Awaited<ReturnType<typeof take>>) =>
    giveBackAllowance(db.query, 'wxsqlapp', openid, taken);

  it('with nothing in between: as before the send', async () => {
    const openid = `o_give_${++seq}`;
    await act(openid, 'user_message', 0);
    await giveBack(openid, await take(openid, 1));
    expect(await state(openid)).toEqual({ remaining: 5, deadline: 172_800 });
  });

  it('the user entering the session again while it failed: 1, not 2, under a limit of 1', async () => {
    const openid = `o_give_${++seq}`;
    await act(openid, 'enter_session', 0);
    const taken = await take(openid, 1);
    await act(openid, 'enter_session', 2); // resets to max(0, 1) = 1 and moves the deadline
    await giveBack(openid, taken);
    expect(await state(openid)).toEqual({ remaining: 1, deadline: 62 });
  });

  it('an enter push inside a longer window leaves the deadline: the message comes back, capped', async () => {
    const openid = `o_give_${++seq}`;
    await act(openid, 'user_message', 0);
    const taken = await take(openid, 1); // 5 → 4
    await act(openid, 'enter_session', 2); // max(4, 1) = 4, deadline unchanged
    await giveBack(openid, taken);
    expect(await state(openid)).toEqual({ remaining: 5, deadline: 172_800 });
  });

  it('another send that went out meanwhile keeps its message', async () => {
    const openid = `o_give_${++seq}`;
    await act(openid, 'user_message', 0);
    const failed = await take(openid, 1); // 5 → 4
    await take(openid, 2); // 4 → 3, sent
    await giveBack(openid, failed);
    expect(await state(openid)).toEqual({ remaining: 4, deadline: 172_800 });
  });
});

describe('recordInboundActions (group commit)', () => {
  it('applies several actions of one user in input order, others in the same batch', async () => {
    const at = (t: number) => new Date((T0 + t) * 1000);
    const a = (openid: string, action: InboundAction['action'], t: number): InboundAction => ({
      appid: 'wxsqlapp',
      openid,
      action,
      createTime: T0 + t,
      receivedAt: at(t),
    });
    // example 6's actions for one user; example 5's first two for another, interleaved
    await db.transaction((q) =>
      recordInboundActions(
        q,
        [
          a('o_b1', 'user_message', 0),
          a('o_b2', 'enter_session', 0),
          a('o_b1', 'enter_session', 172_900),
          a('o_b2', 'user_message', 30),
        ],
        LIMITS,
      ),
    );
    expect(await state('o_b1')).toEqual({ remaining: 1, deadline: 172_960 });
    expect(await state('o_b2')).toEqual({ remaining: 5, deadline: 172_830 });
    const row = await readConversation(db.query, 'wxsqlapp', 'o_b1');
    expect(row?.lastInboundAt?.toISOString()).toBe(at(172_900).toISOString());
    expect(row?.lastOutboundAt).toBeNull();
  });

  it('rolls back with the caller transaction', async () => {
    await expect(
      db.transaction(async (q) => {
        await recordInboundAction(
          q,
          {
            appid: 'wxsqlapp',
            openid: 'o_rb',
            action: 'user_message',
            createTime: T0,
            receivedAt: new Date(),
          },
          LIMITS,
        );
        throw new Error('store failed');
      }),
    ).rejects.toThrow('store failed');
    expect(await readConversation(db.query, 'wxsqlapp', 'o_rb')).toBeNull();
  });
});

describe('concurrent pushes (PostgreSQL: many sessions at once)', () => {
  it.runIf(onPostgres)(
    '30 transactions recording actions for one user lose none (on PostgreSQL)',
    async () => {
      const openid = 'o_concurrent';
      const times = Array.from({ length: 30 }, (_, i) => (i * 7919) % 1000);
      await Promise.all(
        times.map((t, i) =>
          db.transaction(async (q) => {
            const action = i % 3 === 0 ? 'enter_session' : 'user_message';
            await recordInboundAction(
              q,
              {
                appid: 'wxsqlapp',
                openid,
                action,
                createTime: T0 + t,
                receivedAt: new Date((T0 + t) * 1000),
              },
              LIMITS,
            );
            // hold the transaction a moment so the others queue on the row lock
            await q('select pg_sleep(0.005)');
          }),
        ),
      );
      const latest = Math.max(...times.filter((_, i) => i % 3 !== 0));
      expect(await state(openid)).toEqual({ remaining: 5, deadline: latest + 172_800 });
      const row = await readConversation(db.query, 'wxsqlapp', openid);
      expect(row?.lastInboundAt?.getTime()).toBe((T0 + Math.max(...times)) * 1000);
    },
  );
});
