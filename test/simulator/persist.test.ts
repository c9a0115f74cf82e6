import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomComponentCredentials, startTestSimulator } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID, onboard, wx } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'kefu-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stateFile', () => {
  it('keeps grants, tokens, tickets and history across a restart', async () => {
    const stateFile = join(dir, 'simulator.json');
    const credentials = randomComponentCredentials();
    const first = await startTestSimulator({ ...credentials, stateFile });
    const tokens = await onboard(first);
    const { push } = await first.control.sendText(DEMO_APPID, DEMO_OPENID, 'before restart', { wait: true });
    await first.close();

    const second = await startTestSimulator({ ...credentials, stateFile });
    try {
      const send = await wx(
        second,
        '/cgi-bin/message/custom/send',
        { touser: DEMO_OPENID, msgtype: 'text', text: { content: 'after restart' } },
        { access_token: tokens.accessToken },
      );
      expect(send.body.errcode).toBe(0);
      const refresh = await wx(
        second,
        '/cgi-bin/component/api_authorizer_token',
        {
          component_appid: credentials.componentAppid,
          authorizer_appid: DEMO_APPID,
          authorizer_refresh_token: tokens.refreshToken,
        },
        { component_access_token: tokens.componentToken },
      );
      expect(refresh.body.authorizer_refresh_token).toBe(tokens.refreshToken);
      expect((await second.control.miniProgram(DEMO_APPID)).authorized).toBe(true);
      expect((await second.control.tickets()).length).toBe(1);
      const next = await second.control.sendText(DEMO_APPID, DEMO_OPENID, 'again');
      expect(next.push.id > push.id).toBe(true);
      expect((await second.control.pushes()).map((p) => p.id)).toContain(push.id);
    } finally {
      await second.close();
    }
  });
});
