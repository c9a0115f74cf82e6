import type { ApiApp } from '../../api/types.js';
import { isDatabaseUnavailable } from '../../db/errors.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { WeChatApiError, WeChatUnavailableError } from '../../wechat/errors.js';
import { completeAuthorization } from '../complete.js';
import { returnUrlWith, verifyState } from '../links.js';
import { connectedPage, errorPage } from '../pages.js';

// GET /wechat/authorize/callback (http-api.md §2, wechat-protocol.md §3.8): WeChat's authorization page sends
// the browser here with auth_code and our state. The `authorized` push carries the same code; whichever comes
// first exchanges it, and both end in the same single authorizer and event (complete.ts).

const NO_STORE = { 'cache-control': 'no-store' };
const SPENT_CODE = new Set([61009, 61010]);

export function registerAuthorizeCallbackRoute(app: ApiApp, deps: Deps): void {
  app.get('/wechat/authorize/callback', async (c) => {
    const state = c.req.query('state');
    const claims = state ? await verifyState(deps, state) : null;
    if (!claims) {
      return c.html(
        errorPage(
          'Link expired',
          'This authorization attempt is not valid or has expired. Open the link again.',
        ),
        400,
        NO_STORE,
      );
    }
    const code = c.req.query('auth_code');
    if (!code) {
      return c.html(
        errorPage('Not authorized', 'WeChat did not return an authorization code.'),
        400,
        NO_STORE,
      );
    }
    try {
      const { appid, row } = await completeAuthorization(deps, {
        code,
        tenantId: claims.tenantId,
        linkId: claims.linkId,
      });
      c.get('log').info(
        { appid, tenantId: claims.tenantId, linkId: claims.linkId },
        'authorization completed',
      );
      // Only what this link's tenant now holds is reported as connected (and sent to its returnUrl): a code
      // bound elsewhere (another link's, a link for another appid) must not tell the tenant otherwise.
      if (row.tenant_id !== claims.tenantId) {
        return c.html(
          errorPage(
            'Not connected through this link',
            'WeChat authorized a mini-program this link does not connect. Open the link again and authorize the mini-program it was made for.',
          ),
          409,
          NO_STORE,
        );
      }
      if (claims.returnUrl) return c.redirect(returnUrlWith(claims.returnUrl, appid), 302);
      return c.html(connectedPage(row.nickname, appid), 200, NO_STORE);
    } catch (err) {
      if (isDatabaseUnavailable(err)) throw err;
      if (err instanceof WeChatApiError && SPENT_CODE.has(err.errcode)) {
        return c.html(
          errorPage(
            'Authorization code expired',
            'WeChat says this authorization has expired or was already used. Open the link again.',
          ),
          400,
          NO_STORE,
        );
      }
      const unavailable =
        err instanceof WeChatUnavailableError ||
        (err instanceof AppError && err.code === 'wechat_unavailable');
      c.get('log').warn({ err, tenantId: claims.tenantId }, 'authorization callback failed');
      return c.html(
        errorPage(
          unavailable ? 'WeChat is unavailable' : 'WeChat refused',
          'The mini-program could not be connected just now. Reload this page in a moment.',
        ),
        unavailable ? 503 : 502,
        NO_STORE,
      );
    }
  });
}
