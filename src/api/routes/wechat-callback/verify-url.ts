import type { Deps } from '../../../deps.js';
import { remoteIp } from '../../remote-ip.js';
import type { ApiApp } from '../../types.js';

/**
 * GET /wechat/callback/:appid: URL verification (wechat-protocol.md §1.6). `signature` is sig3 over the
 * component token, timestamp and nonce; echostr goes back unchanged, as text/plain.
 */
export function registerVerifyUrlRoute(app: ApiApp, deps: Deps): void {
  app.get('/wechat/callback/:appid', (c) => {
    const { signature, timestamp, nonce, echostr } = c.req.query();
    if (
      signature === undefined ||
      timestamp === undefined ||
      nonce === undefined ||
      echostr === undefined ||
      !deps.crypto.verifySignature(signature, timestamp, nonce)
    ) {
      c.get('log').warn(
        { appid: c.req.param('appid'), timestamp, nonce, ip: remoteIp(c) },
        'URL verification refused',
      );
      return c.text('unauthorized', 401);
    }
    return c.text(echostr);
  });
}
