import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type TestHarness } from '../../helpers/app.js';
import { pushOf, textFields } from '../../helpers/pushes.js';
import { freshOpenid, seedHeldMiniProgram } from './seed.js';

describe('database unavailable', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers 503, never success, and counts db_unavailable', async () => {
    const mp = await seedHeldMiniProgram(h);
    const first = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'before'));
    const ok = await h.request(first.path, { method: 'POST', body: first.body });
    expect(await ok.text()).toBe('success');

    await h.database.db.close();
    const pushes = [1, 2, 3].map((i) => pushOf(h.deps.crypto, mp, textFields(freshOpenid(), `lost ${i}`)));
    const answers = await Promise.all(pushes.map((p) => h.request(p.path, { method: 'POST', body: p.body })));
    expect(answers.map((r) => r.status)).toEqual([503, 503, 503]);
    for (const r of answers) expect(await r.text()).not.toBe('success');
    const metrics = await h.deps.metrics.registry.getSingleMetricAsString('kefu_pushes_received_total');
    expect(metrics).toMatch(/result="db_unavailable"\} 3/);
  });
});
