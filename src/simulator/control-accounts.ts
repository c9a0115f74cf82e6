import type { Context, Hono } from 'hono';
import {
  AuthorizationError,
  checkPreAuthCode,
  createPreAuthCode,
  grantAuthorization,
  redirectWithCode,
  revokeAuthorization,
  updatePermissions,
} from './authorization.js';
import type { SimContext } from './context.js';
import { ControlError, parse, pushAnswer, sinceParam } from './control-http.js';
import * as s from './control-schemas.js';
import { newAppid } from './ids.js';
import { CUSTOMER_SERVICE_PERMISSION } from './options.js';
import type { SimMiniProgram, SimUser } from './state.js';
import { performUserAction, type UserAction, UserActionError } from './user-actions.js';
import { conversationView, miniProgramView } from './views.js';

const AUTH_ERROR_STATUS: Record<AuthorizationError['code'], 404 | 409 | 422> = {
  pre_auth_code_unknown: 404,
  pre_auth_code_expired: 409,
  pre_auth_code_used: 409,
  unknown_mini_program: 404,
  not_authorized: 409,
  invalid_permissions: 422,
};

function authError(err: unknown): never {
  if (err instanceof AuthorizationError)
    throw new ControlError(AUTH_ERROR_STATUS[err.code], err.code, err.message);
  throw err;
}

export function findMiniProgram(ctx: SimContext, appid: string): SimMiniProgram {
  const mp = ctx.state.miniPrograms.get(appid);
  if (!mp) throw new ControlError(404, 'mini_program_not_found', `no simulated mini-program ${appid}`);
  return mp;
}

function findOrAddUser(ctx: SimContext, mp: SimMiniProgram, openid: string): SimUser {
  return mp.users.get(openid) ?? ctx.state.addUser(mp, { openid }, ctx.clock.now());
}

function toAction(body: ReturnType<typeof s.userAction.parse>): UserAction {
  switch (body.type) {
    case 'enter_session':
      return { type: 'enter_session', sessionFrom: body.sessionFrom };
    case 'text':
      return { type: 'text', content: body.content };
    case 'image':
      return {
        type: 'image',
        image: body.imageBase64 ? Buffer.from(body.imageBase64, 'base64') : undefined,
        filename: body.filename,
      };
    case 'miniprogrampage':
      return {
        type: 'miniprogrampage',
        title: body.title,
        pagePath: body.pagePath,
        thumb: body.thumbBase64 ? Buffer.from(body.thumbBase64, 'base64') : undefined,
      };
    case 'event':
      return { type: 'event', event: body.event, fields: body.fields };
    case 'message':
      return { type: 'message', msgType: body.msgType, fields: body.fields };
  }
}

/** Control routes for simulated accounts: mini-programs, users, authorization and what users do. */
export function registerAccountControl(app: Hono, ctx: SimContext): void {
  const mpParam = (c: Context) => findMiniProgram(ctx, c.req.param('appid') ?? '');

  app.get('/sim/mini-programs', (c) =>
    c.json({ miniPrograms: [...ctx.state.miniPrograms.values()].map((mp) => miniProgramView(ctx, mp)) }),
  );

  app.post('/sim/mini-programs', async (c) => {
    const body = await parse(c, s.miniProgramCreate);
    const appid = body.appid ?? newAppid();
    if (ctx.state.miniPrograms.has(appid))
      throw new ControlError(409, 'mini_program_exists', `${appid} exists`);
    const mp = ctx.state.addMiniProgram({ ...body, appid }, ctx.clock.now());
    return c.json(miniProgramView(ctx, mp), 201);
  });

  app.get('/sim/mini-programs/:appid', (c) => c.json(miniProgramView(ctx, mpParam(c))));

  app.patch('/sim/mini-programs/:appid', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.miniProgramPatch);
    Object.assign(mp, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)));
    return c.json(miniProgramView(ctx, mp));
  });

  app.post('/sim/mini-programs/:appid/users', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.userCreate);
    if (body.openid && mp.users.has(body.openid))
      throw new ControlError(409, 'user_exists', `${body.openid} exists`);
    const user = ctx.state.addUser(mp, body, ctx.clock.now());
    return c.json({ openid: user.openid, nickname: user.nickname, known: user.known }, 201);
  });

  app.post('/sim/pre-auth-codes', (c) => {
    const code = createPreAuthCode(ctx);
    return c.json({ preAuthCode: code.code, expiresIn: ctx.config.preAuthCodeTtlSeconds }, 201);
  });

  app.post('/sim/authorize', async (c) => {
    const body = await parse(c, s.authorize);
    findMiniProgram(ctx, body.appid);
    try {
      if (body.preAuthCode) checkPreAuthCode(ctx, body.preAuthCode, true);
      const grant = grantAuthorization(ctx, {
        appid: body.appid,
        permissions: body.permissions ?? [CUSTOMER_SERVICE_PERMISSION],
        preAuthCode: body.preAuthCode ?? null,
      });
      const ttl = ctx.config.authCodeTtlSeconds;
      return pushAnswer(c, grant.push, body.wait, {
        infoType: grant.infoType,
        authCode: grant.authCode.code,
        expiresIn: ttl,
        redirectUrl: body.redirectUri ? redirectWithCode(body.redirectUri, grant.authCode, ttl) : null,
      });
    } catch (err) {
      return authError(err);
    }
  });

  app.post('/sim/mini-programs/:appid/revoke', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.revoke);
    try {
      return pushAnswer(c, revokeAuthorization(ctx, mp.appid), body.wait);
    } catch (err) {
      return authError(err);
    }
  });

  app.post('/sim/mini-programs/:appid/permissions', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.permissionsUpdate);
    try {
      const result = updatePermissions(ctx, mp.appid, body.permissions);
      if (!result.push) return c.json({ changed: false, push: null });
      return pushAnswer(c, result.push, body.wait, { changed: true, authCode: result.authCode?.code });
    } catch (err) {
      return authError(err);
    }
  });

  app.post('/sim/mini-programs/:appid/users/:openid/actions', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.userAction);
    const user = findOrAddUser(ctx, mp, c.req.param('openid'));
    try {
      const pushed = performUserAction(ctx, ctx.pushes, mp, user, toAction(body), {
        createTime: body.createTime,
        msgId: body.msgId,
      });
      return pushAnswer(c, pushed, body.wait, { openid: user.openid });
    } catch (err) {
      if (err instanceof UserActionError) throw new ControlError(422, 'invalid_image', err.message);
      throw err;
    }
  });

  app.get('/sim/mini-programs/:appid/users/:openid/conversation', (c) => {
    const mp = mpParam(c);
    return c.json(conversationView(ctx, mp.appid, c.req.param('openid'), sinceParam(c)));
  });

  app.get('/sim/mini-programs/:appid/users/:openid/window', (c) => {
    const mp = mpParam(c);
    return c.json(conversationView(ctx, mp.appid, c.req.param('openid'), Number.POSITIVE_INFINITY).window);
  });

  app.put('/sim/mini-programs/:appid/users/:openid/window', async (c) => {
    const mp = mpParam(c);
    const body = await parse(c, s.windowSet);
    const window = ctx.state.window(mp.appid, c.req.param('openid'));
    if (body.remaining !== undefined) window.remaining = body.remaining;
    if (body.deadline !== undefined) window.deadline = body.deadline ?? Number.NEGATIVE_INFINITY;
    return c.json(conversationView(ctx, mp.appid, c.req.param('openid'), Number.POSITIVE_INFINITY).window);
  });
}
