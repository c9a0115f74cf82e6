import type { Hono } from 'hono';
import type { SimContext } from './context.js';
import { ControlError, parse, pushAnswer, sinceParam } from './control-http.js';
import * as s from './control-schemas.js';
import { runReleaseCheck } from './release-check.js';
import type { Fault } from './state.js';
import { pushTicket } from './tickets.js';
import { invalidateTokens } from './tokens.js';
import { pushView, tokenView } from './views.js';

/** The names fault injection, quotas and the call log use for each WeChat API. */
export const API_NAMES = [
  'api_component_token',
  'api_create_preauthcode',
  'api_query_auth',
  'api_authorizer_token',
  'api_get_authorizer_info',
  'api_get_authorizer_list',
  'api_start_push_ticket',
  'custom_send',
  'custom_typing',
  'custom_send_business',
  'custom_typing_business',
  'media_upload',
  'media_get',
] as const;

let faultIds = 0;

export interface OpsHooks {
  /** Restarts the ticket timer after `ticketIntervalMs` changed. */
  onTicketIntervalChanged: () => void;
  reset: () => void;
}

/** Control routes for the simulator itself: configuration, clock, faults, tokens, tickets and inspection. */
export function registerOpsControl(app: Hono, ctx: SimContext, hooks: OpsHooks): void {
  app.get('/sim', (c) =>
    c.json({
      componentAppid: ctx.config.componentAppid,
      now: ctx.clock.now(),
      clockOffsetMs: ctx.clock.offset,
      apis: API_NAMES,
      counts: {
        miniPrograms: ctx.state.miniPrograms.size,
        authorizations: [...ctx.state.authorizations.values()].filter((a) => a.revokedAt === null).length,
        calls: ctx.state.calls.length,
        pushes: ctx.state.pushes.length,
        messages: ctx.state.messages.length,
      },
    }),
  );

  app.get('/sim/config', (c) => c.json(ctx.config));

  app.patch('/sim/config', async (c) => {
    const body = await parse(c, s.configPatch);
    const { quotas, sendWindow, ...rest } = body;
    for (const [key, value] of Object.entries(rest)) {
      if (value !== undefined) (ctx.config as unknown as Record<string, unknown>)[key] = value;
    }
    if (body.relayBaseUrl) ctx.config.relayBaseUrl = body.relayBaseUrl.replace(/\/+$/, '');
    if (quotas?.daily !== undefined) ctx.config.quotas.daily = quotas.daily;
    if (quotas?.perMinute !== undefined) ctx.config.quotas.perMinute = quotas.perMinute;
    if (sendWindow?.enterSession) ctx.config.sendWindow.enterSession = sendWindow.enterSession;
    if (sendWindow?.userMessage) ctx.config.sendWindow.userMessage = sendWindow.userMessage;
    if (body.ticketIntervalMs !== undefined) hooks.onTicketIntervalChanged();
    return c.json(ctx.config);
  });

  app.post('/sim/reset', (c) => {
    hooks.reset();
    return c.json({ reset: true, now: ctx.clock.now() });
  });

  app.get('/sim/clock', (c) => c.json({ now: ctx.clock.now(), offsetMs: ctx.clock.offset }));

  app.post('/sim/clock/advance', async (c) => {
    const body = await parse(c, s.clockAdvance);
    ctx.clock.advance((body.seconds ?? 0) * 1000 + (body.ms ?? 0));
    return c.json({ now: ctx.clock.now(), offsetMs: ctx.clock.offset });
  });

  app.post('/sim/ticket', async (c) => {
    const body = await parse(c, s.ticketPush);
    const pushed = pushTicket(ctx, { repeat: body.repeat });
    return pushAnswer(c, pushed, body.wait, { ticket: pushed.ticket.value });
  });

  app.get('/sim/tickets', (c) => c.json({ tickets: ctx.state.tickets }));

  app.get('/sim/faults', (c) => c.json({ faults: ctx.state.faults }));

  app.post('/sim/faults', async (c) => {
    const body = await parse(c, s.faultCreate);
    if (body.api !== '*' && !(API_NAMES as readonly string[]).includes(body.api)) {
      throw new ControlError(
        400,
        'unknown_api',
        `unknown api ${body.api}; one of ${API_NAMES.join(', ')} or *`,
      );
    }
    faultIds += 1;
    const fault: Fault = {
      id: faultIds,
      api: body.api,
      kind: body.kind,
      errcode: body.errcode ?? null,
      errmsg: body.errmsg ?? null,
      delayMs: body.delayMs ?? 0,
      status: body.status ?? null,
      body: body.body ?? null,
      remaining: body.times ?? 1,
    };
    ctx.state.faults.push(fault);
    return c.json(fault, 201);
  });

  app.delete('/sim/faults', (c) => {
    const api = c.req.query('api');
    const before = ctx.state.faults.length;
    ctx.state.faults = api ? ctx.state.faults.filter((f) => f.api !== api) : [];
    return c.json({ removed: before - ctx.state.faults.length });
  });

  app.get('/sim/tokens', (c) => c.json({ tokens: ctx.state.tokens.map((t) => tokenView(ctx, t)) }));

  app.post('/sim/tokens/invalidate', async (c) => {
    const body = await parse(c, s.tokenInvalidate);
    const invalidated = invalidateTokens(ctx, body.kind, body.appid ?? null);
    return c.json({ invalidated });
  });

  app.get('/sim/calls', (c) => {
    const api = c.req.query('api');
    const since = sinceParam(c);
    return c.json({ calls: ctx.state.calls.filter((x) => x.seq > since && (!api || x.api === api)) });
  });

  app.get('/sim/pushes', (c) => {
    const q = c.req.query();
    const pushes = ctx.state.pushes.filter(
      (p) =>
        (!q.kind || p.kind === q.kind) &&
        (!q.appid || p.appid === q.appid) &&
        (!q.openid || p.openid === q.openid) &&
        (!q.type || p.type === q.type) &&
        (!q.status || p.status === q.status),
    );
    const limit = Number(q.limit ?? 0);
    return c.json({ pushes: (limit > 0 ? pushes.slice(-limit) : pushes).map(pushView) });
  });

  app.get('/sim/pushes/:id', (c) => {
    const push = ctx.state.pushes.find((p) => p.id === c.req.param('id'));
    if (!push) throw new ControlError(404, 'push_not_found', `no push ${c.req.param('id')}`);
    return c.json(pushView(push));
  });

  app.post('/sim/pushes/idle', async (c) => {
    await ctx.pushes.idle();
    return c.json({ idle: true });
  });

  app.get('/sim/messages', (c) => {
    const { appid, openid } = c.req.query();
    const since = sinceParam(c);
    const messages = ctx.state.messages.filter(
      (m) => m.seq > since && (!appid || m.appid === appid) && (!openid || m.openid === openid),
    );
    return c.json({ messages });
  });

  app.get('/sim/typing', (c) => {
    const { appid, openid } = c.req.query();
    const now = ctx.clock.now();
    const typing = [...ctx.state.typing.entries()]
      .map(([key, t]) => {
        const [a, o] = key.split('\u0000');
        return { appid: a, openid: o, typing: t.typingUntil !== null && now < t.typingUntil, ...t };
      })
      .filter((t) => (!appid || t.appid === appid) && (!openid || t.openid === openid));
    return c.json({ typing });
  });

  app.post('/sim/release-check', async (c) => {
    const body = await parse(c, s.releaseCheck);
    if (body.appid && !ctx.state.miniPrograms.has(body.appid)) {
      throw new ControlError(404, 'mini_program_not_found', `no simulated mini-program ${body.appid}`);
    }
    return c.json(await runReleaseCheck(ctx, body));
  });
}
