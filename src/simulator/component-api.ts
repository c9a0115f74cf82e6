import type { Hono } from 'hono';
import { apiRoute, readJson, str } from './api-route.js';
import { createPreAuthCode } from './authorization.js';
import type { SimContext } from './context.js';
import type { Authorization } from './state.js';
import { checkTicket, pushTicket } from './tickets.js';
import { issueToken, requireComponentToken } from './tokens.js';
import { WxError } from './wx-error.js';

export const funcInfo = (permissions: number[]) => permissions.map((id) => ({ funcscope_category: { id } }));

function requireComponentAppid(ctx: SimContext, body: Record<string, unknown>): void {
  const appid = str(body, 'component_appid');
  if (!appid) throw new WxError(41002);
  if (appid !== ctx.config.componentAppid) throw new WxError(40013);
}

/** 61003 covers both "never authorized" and "revoked": WeChat does not tell them apart. */
function requireAuthorization(ctx: SimContext, body: Record<string, unknown>): Authorization {
  const appid = str(body, 'authorizer_appid');
  if (!appid) throw new WxError(41002);
  const authorization = ctx.state.activeAuthorization(appid);
  if (!authorization) throw new WxError(61003);
  return authorization;
}

/** The component (第三方平台) APIs of wechat-protocol.md §3. */
export function registerComponentApi(app: Hono, ctx: SimContext): void {
  const base = '/cgi-bin/component';

  app.post(
    `${base}/api_component_token`,
    apiRoute(ctx, 'api_component_token', async (c) => {
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const secret = str(body, 'component_appsecret');
      if (!secret) throw new WxError(41004);
      if (secret !== ctx.config.componentAppsecret) throw new WxError(40125);
      checkTicket(ctx, str(body, 'component_verify_ticket'));
      const token = issueToken(ctx, 'component', null);
      return { component_access_token: token.token, expires_in: ctx.config.tokenTtlSeconds };
    }),
  );

  app.post(
    `${base}/api_create_preauthcode`,
    apiRoute(ctx, 'api_create_preauthcode', async (c, call) => {
      requireComponentToken(ctx, c, call);
      requireComponentAppid(ctx, await readJson(c));
      const code = createPreAuthCode(ctx);
      return { pre_auth_code: code.code, expires_in: ctx.config.preAuthCodeTtlSeconds };
    }),
  );

  app.post(
    `${base}/api_query_auth`,
    apiRoute(ctx, 'api_query_auth', async (c, call) => {
      requireComponentToken(ctx, c, call);
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const value = str(body, 'authorization_code');
      const code = value ? ctx.state.authCodes.get(value) : undefined;
      if (!code || code.usedAt !== null) throw new WxError(61009);
      if (ctx.clock.now() >= code.expiresAt) throw new WxError(61010);
      const authorization = ctx.state.activeAuthorization(code.appid);
      if (!authorization) throw new WxError(61009);
      code.usedAt = ctx.clock.now();
      authorization.exchanged = true;
      call.appid = code.appid;
      const token = issueToken(ctx, 'authorizer', code.appid);
      return {
        authorization_info: {
          authorizer_appid: code.appid,
          authorizer_access_token: token.token,
          expires_in: ctx.config.tokenTtlSeconds,
          authorizer_refresh_token: authorization.refreshToken,
          func_info: funcInfo(code.permissions),
        },
      };
    }),
  );

  app.post(
    `${base}/api_authorizer_token`,
    apiRoute(ctx, 'api_authorizer_token', async (c, call) => {
      requireComponentToken(ctx, c, call);
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const authorization = requireAuthorization(ctx, body);
      call.appid = authorization.appid;
      const refresh = str(body, 'authorizer_refresh_token');
      const now = ctx.clock.now();
      const current = refresh === authorization.refreshToken;
      const inGrace = authorization.oldRefreshTokens.some((t) => t.token === refresh && now < t.validUntil);
      if (!refresh || !(current || inGrace)) throw new WxError(61023);
      const token = issueToken(ctx, 'authorizer', authorization.appid);
      return {
        authorizer_access_token: token.token,
        expires_in: ctx.config.tokenTtlSeconds,
        authorizer_refresh_token: authorization.refreshToken,
      };
    }),
  );

  app.post(
    `${base}/api_get_authorizer_info`,
    apiRoute(ctx, 'api_get_authorizer_info', async (c, call) => {
      requireComponentToken(ctx, c, call);
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const authorization = requireAuthorization(ctx, body);
      call.appid = authorization.appid;
      const mp = ctx.state.miniPrograms.get(authorization.appid);
      if (!mp) throw new WxError(61003);
      return {
        authorizer_info: {
          nick_name: mp.nickname,
          head_img: mp.headImg,
          service_type_info: { id: 0 },
          verify_type_info: { id: 0 },
          user_name: mp.userName,
          principal_name: mp.principalName,
          signature: mp.signature,
          account_status: mp.accountStatus,
          business_info: { open_pay: 0, open_shake: 0, open_scan: 0, open_card: 0, open_store: 0 },
          qrcode_url: `${ctx.publicUrl()}/sim/samples/image.png`,
          MiniProgramInfo: {
            network: { RequestDomain: [], WsRequestDomain: [], UploadDomain: [], DownloadDomain: [] },
            categories: [{ first: '工具', second: '效率' }],
            visit_status: 0,
          },
        },
        authorization_info: {
          authorizer_appid: mp.appid,
          authorizer_refresh_token: authorization.refreshToken,
          func_info: funcInfo(authorization.permissions),
        },
      };
    }),
  );

  app.post(
    `${base}/api_get_authorizer_list`,
    apiRoute(ctx, 'api_get_authorizer_list', async (c, call) => {
      requireComponentToken(ctx, c, call);
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const offset = Number(body.offset ?? 0);
      const count = Number(body.count ?? 100);
      if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(count) || count < 1 || count > 500) {
        throw new WxError(40097);
      }
      const active = [...ctx.state.authorizations.values()]
        .filter((a) => a.revokedAt === null)
        .sort((a, b) => a.authTime - b.authTime);
      return {
        total_count: active.length,
        list: active.slice(offset, offset + count).map((a) => ({
          authorizer_appid: a.appid,
          ...(a.exchanged ? { refresh_token: a.refreshToken } : {}),
          auth_time: Math.floor(a.authTime / 1000),
        })),
      };
    }),
  );

  app.post(
    `${base}/api_start_push_ticket`,
    apiRoute(ctx, 'api_start_push_ticket', async (c) => {
      const body = await readJson(c);
      requireComponentAppid(ctx, body);
      const secret = str(body, 'component_secret');
      if (!secret) throw new WxError(41004);
      if (secret !== ctx.config.componentAppsecret) throw new WxError(40125);
      // Fire and forget like WeChat: the ticket arrives at the event URL, not in this answer.
      pushTicket(ctx);
      return { errcode: 0, errmsg: 'ok' };
    }),
  );
}
