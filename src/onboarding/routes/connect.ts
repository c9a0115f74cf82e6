import type { ApiApp } from '../../api/types.js';
import type { Deps } from '../../deps.js';
import { describeErrcode, WeChatApiError } from '../../wechat/errors.js';
import { authorizationUrlFor, findLiveLink } from '../links.js';
import { errorPage, landingPage } from '../pages.js';

// GET /connect/:token (http-api.md §2): WeChat serves its authorization page only to a browser coming from our
// registered domain, and pre-auth codes live minutes, so every view mints a fresh one.

const NO_STORE = { 'cache-control': 'no-store' };

export function registerConnectRoute(app: ApiApp, deps: Deps): void {
  app.get('/connect/:token', async (c) => {
    const link = await findLiveLink(deps, c.req.param('token'));
    if (!link) {
      return c.html(
        errorPage('Link not found', 'This authorization link is unknown or has expired. Ask for a new one.'),
        404,
        NO_STORE,
      );
    }
    let url: string;
    try {
      url = await authorizationUrlFor(deps, link);
    } catch (err) {
      c.get('log').warn({ err, linkId: link.id }, 'could not mint a pre-auth code');
      if (err instanceof WeChatApiError) {
        // WeChat answered, and refused: reloading will not help (an IP not whitelisted, a bad credential …)
        return c.html(
          errorPage(
            'WeChat refused to start the authorization',
            `WeChat answered errcode ${err.errcode} (${describeErrcode(err.errcode).meaning}). The platform's ` +
              'operator must fix this before the link can work; please tell whoever sent it to you.',
          ),
          502,
          NO_STORE,
        );
      }
      return c.html(
        errorPage(
          'WeChat is unavailable',
          'WeChat could not be reached just now. Reload this page in a moment.',
        ),
        503,
        NO_STORE,
      );
    }
    return c.html(landingPage(url, link.mobile), 200, NO_STORE);
  });
}
