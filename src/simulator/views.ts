import type { SimContext } from './context.js';
import { tokenPrefix } from './ids.js';
import { windowView } from './send-window.js';
import type { IssuedToken, PushRecord, SimMiniProgram } from './state.js';
import { tokenStatus } from './tokens.js';

/** JSON shapes of the control API; tokens appear only as short prefixes. */

export function miniProgramView(ctx: SimContext, mp: SimMiniProgram) {
  const grant = ctx.state.authorizations.get(mp.appid);
  const active = grant && grant.revokedAt === null ? grant : null;
  return {
    appid: mp.appid,
    userName: mp.userName,
    nickname: mp.nickname,
    headImg: mp.headImg,
    principalName: mp.principalName,
    accountStatus: mp.accountStatus,
    releaseTest: mp.releaseTest,
    authorized: active !== null,
    permissions: active?.permissions ?? [],
    authTime: active ? Math.floor(active.authTime / 1000) : null,
    revokedAt: grant?.revokedAt ? Math.floor(grant.revokedAt / 1000) : null,
    refreshTokenPrefix: active ? tokenPrefix(active.refreshToken) : null,
    users: [...mp.users.values()].map((u) => ({ openid: u.openid, nickname: u.nickname, known: u.known })),
  };
}

export function tokenView(ctx: SimContext, t: IssuedToken) {
  return {
    kind: t.kind,
    appid: t.appid,
    prefix: tokenPrefix(t.token),
    issuedAt: t.issuedAt,
    expiresAt: t.expiresAt,
    status: tokenStatus(ctx, t),
  };
}

export const pushView = (p: PushRecord) => ({ ...p, attemptCount: p.attempts.length });

export function conversationView(ctx: SimContext, appid: string, openid: string, since = 0) {
  const now = ctx.clock.now();
  const typing = ctx.state.typingState(appid, openid);
  return {
    appid,
    openid,
    now,
    window: windowView(ctx.state.window(appid, openid), Math.floor(now / 1000)),
    typing: typing.typingUntil !== null && now < typing.typingUntil,
    typingUntil: typing.typingUntil,
    lastExchangeAt: typing.lastExchangeAt,
    timeline: ctx.state.timeline(appid, openid).filter((e) => e.seq > since),
  };
}
