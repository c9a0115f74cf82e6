import type { Context, Hono } from 'hono';
import {
  AuthorizationError,
  checkPreAuthCode,
  grantAuthorization,
  redirectWithCode,
} from './authorization.js';
import type { SimContext } from './context.js';
import { escapeHtml, page } from './html.js';
import { CUSTOMER_SERVICE_PERMISSION, PERMISSION_SETS } from './options.js';
import type { SimMiniProgram } from './state.js';

interface PageParams {
  componentAppid: string;
  preAuthCode: string;
  redirectUri: string;
  authType: string;
  bizAppid: string;
  categories: string;
  mobile: boolean;
}

class PageError extends Error {}

/** auth_type: 1 公众号, 2 小程序, 3 both, 4 推客, 5 视频号, 6 all; the simulator only has mini-programs. */
const MINI_PROGRAM_AUTH_TYPES = new Set(['2', '3', '6']);

function readParams(get: (key: string) => string | undefined, mobile: boolean): PageParams {
  return {
    componentAppid: get('component_appid') ?? '',
    preAuthCode: get('pre_auth_code') ?? '',
    redirectUri: get('redirect_uri') ?? '',
    authType: get('auth_type') ?? '3',
    bizAppid: get('biz_appid') ?? '',
    categories: get('category_id_list') ?? '',
    mobile,
  };
}

/** Everything WeChat checks before it shows the page (and again when the admin confirms). */
function validate(ctx: SimContext, p: PageParams): { choices: SimMiniProgram[]; offered: number[] } {
  if (p.componentAppid !== ctx.config.componentAppid)
    throw new PageError('component_appid 无效 (invalid component_appid)');
  try {
    checkPreAuthCode(ctx, p.preAuthCode, false);
  } catch (err) {
    if (err instanceof AuthorizationError) throw new PageError(`${err.message} (${err.code})`);
    throw err;
  }
  let redirect: URL;
  try {
    redirect = new URL(p.redirectUri);
  } catch {
    throw new PageError('redirect_uri 无效 (redirect_uri must be an absolute URL)');
  }
  if (redirect.protocol !== 'http:' && redirect.protocol !== 'https:') {
    throw new PageError('redirect_uri 无效 (redirect_uri must be http or https)');
  }
  let choices = [...ctx.state.miniPrograms.values()];
  if (p.bizAppid) {
    // biz_appid restricts the link to one account and overrides auth_type.
    choices = choices.filter((mp) => mp.appid === p.bizAppid);
    if (choices.length === 0)
      throw new PageError(`biz_appid ${p.bizAppid} 不是可授权的帐号 (unknown account)`);
  } else if (!/^[1-6]$/.test(p.authType)) {
    throw new PageError('auth_type 无效 (invalid auth_type)');
  } else if (!MINI_PROGRAM_AUTH_TYPES.has(p.authType)) {
    throw new PageError(`auth_type=${p.authType} 不允许授权小程序 (this link does not allow mini-programs)`);
  }
  let offered = ctx.config.platformPermissions.filter((id) => PERMISSION_SETS[id] !== undefined);
  const wanted = p.categories.split('|').filter(Boolean).map(Number);
  if (wanted.length > 0) offered = offered.filter((id) => wanted.includes(id));
  if (offered.length === 0) throw new PageError('没有可授权的权限集 (no permission set to grant)');
  return { choices, offered };
}

function errorPage(message: string): string {
  return page(
    '授权失败',
    `<div class="card"><h1>授权失败</h1><p id="error" class="error">${escapeHtml(message)}</p>
<p class="muted">Create a fresh pre-auth code (api_create_preauthcode) and open the link again.</p></div>`,
  );
}

function authPage(ctx: SimContext, p: PageParams, choices: SimMiniProgram[], offered: number[]): string {
  const hidden = (name: string, value: string) =>
    `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const sorted = [...choices].sort((a, b) => Number(a.releaseTest) - Number(b.releaseTest));
  const row = (mp: SimMiniProgram, checked: boolean) => {
    const authorized = ctx.state.activeAuthorization(mp.appid) ? ' · 已授权 (authorized)' : '';
    return `<label class="row"><input type="radio" name="appid" id="mp-${escapeHtml(mp.appid)}" value="${escapeHtml(mp.appid)}"${checked ? ' checked' : ''}>
<span class="avatar">${escapeHtml(mp.nickname.slice(0, 1))}</span>
<span><b>${escapeHtml(mp.nickname)}</b><br><span class="muted">${escapeHtml(mp.appid)} · ${escapeHtml(mp.userName)}${authorized}${mp.releaseTest ? ' · 全网发布测试帐号' : ''}</span></span></label>`;
  };
  const regular = sorted.filter((mp) => !mp.releaseTest);
  const tests = sorted.filter((mp) => mp.releaseTest);
  // The ten 全网发布 accounts are rarely picked by hand; folded away unless they are all there is.
  const rows =
    regular.map((mp, i) => row(mp, i === 0)).join('\n') +
    (tests.length === 0
      ? ''
      : regular.length === 0
        ? tests.map((mp, i) => row(mp, i === 0)).join('\n')
        : `<details><summary class="muted">全网发布 test accounts (${tests.length})</summary>${tests.map((mp) => row(mp, false)).join('\n')}</details>`);
  const perms = offered
    .map(
      (
        id,
      ) => `<label class="row"><input type="checkbox" name="permission" id="perm-${id}" value="${id}"${id === CUSTOMER_SERVICE_PERMISSION ? ' checked' : ''}>
<span>${escapeHtml(PERMISSION_SETS[id] ?? `权限集 ${id}`)} <span class="muted">(${id})</span></span></label>`,
    )
    .join('\n');
  const body = `<form class="card" method="post" action="/cgi-bin/componentloginpage/confirm" id="auth-form">
<h1>授权给第三方平台 <span class="muted">${escapeHtml(ctx.config.componentAppid)}</span></h1>
<p class="muted">${p.mobile ? '手机端授权 (mobile) · ' : ''}选择要授权的小程序 — pick a simulated mini-program to authorize.</p>
<div id="mini-programs">${rows}</div>
<h2>授权权限集 (permission sets)</h2>
<div id="permissions">${perms}</div>
${hidden('component_appid', p.componentAppid)}${hidden('pre_auth_code', p.preAuthCode)}${hidden('redirect_uri', p.redirectUri)}${hidden('auth_type', p.authType)}${hidden('biz_appid', p.bizAppid)}${hidden('category_id_list', p.categories)}${hidden('mobile', p.mobile ? '1' : '')}
<p style="margin-top:16px"><button type="submit" class="btn" id="authorize">授权 Authorize</button></p>
<p class="muted">Confirming redirects to <code>${escapeHtml(p.redirectUri)}</code> with <code>auth_code</code> and pushes the <code>authorized</code> event.</p>
</form>`;
  return page('微信公众平台 · 授权', body);
}

function show(ctx: SimContext, c: Context, mobile: boolean): Response {
  if (mobile && c.req.query('action') !== 'bindcomponent') {
    return c.html(errorPage('action 无效 (action=bindcomponent required)'), 400);
  }
  const p = readParams((k) => c.req.query(k), mobile);
  try {
    const { choices, offered } = validate(ctx, p);
    return c.html(authPage(ctx, p, choices, offered));
  } catch (err) {
    if (err instanceof PageError) return c.html(errorPage(err.message), 400);
    throw err;
  }
}

/** The authorization page (wechat-protocol.md §3.8), PC and mobile. */
export function registerAuthPage(app: Hono, ctx: SimContext): void {
  app.get('/cgi-bin/componentloginpage', (c) => show(ctx, c, false));
  app.get('/wxaopen/safe/bindcomponent', (c) => show(ctx, c, true));
  app.get('/safe/bindcomponent', (c) => show(ctx, c, true));

  app.post('/cgi-bin/componentloginpage/confirm', async (c) => {
    const form = await c.req.parseBody({ all: true });
    const one = (key: string) => {
      const value = form[key];
      return typeof value === 'string' ? value : undefined;
    };
    const p = readParams(one, one('mobile') === '1');
    try {
      const { choices, offered } = validate(ctx, p);
      const appid = one('appid');
      if (!appid || !choices.some((mp) => mp.appid === appid))
        throw new PageError('请选择一个小程序 (pick a mini-program)');
      const raw = form.permission;
      const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(Number);
      const permissions = list.filter((id) => offered.includes(id));
      if (permissions.length === 0)
        throw new PageError('请至少选择一个权限集 (tick at least one permission set)');
      checkPreAuthCode(ctx, p.preAuthCode, true);
      const grant = grantAuthorization(ctx, { appid, permissions, preAuthCode: p.preAuthCode });
      return c.redirect(redirectWithCode(p.redirectUri, grant.authCode, ctx.config.authCodeTtlSeconds), 302);
    } catch (err) {
      if (err instanceof PageError || err instanceof AuthorizationError)
        return c.html(errorPage(err.message), 400);
      throw err;
    }
  });
}
