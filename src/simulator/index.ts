import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { WeChatCrypto } from '../wechat/crypto.js';
import { registerAuthPage } from './auth-page.js';
import { registerChatPage } from './chat-page.js';
import { SimClock } from './clock.js';
import { registerComponentApi } from './component-api.js';
import type { SimContext } from './context.js';
import { registerAccountControl } from './control-accounts.js';
import { ControlError, problem } from './control-http.js';
import { registerOpsControl } from './control-ops.js';
import { registerCustomMessageApi } from './custom-message-api.js';
import { registerMediaApi } from './media-api.js';
import { resolveConfig, type SimConfig, type SimulatorOptions } from './options.js';
import { restore, StateFile, snapshot } from './persist.js';
import { PushService } from './push.js';
import { SimState } from './state.js';
import { pushTicket } from './tickets.js';

export type { SimulatorOptions } from './options.js';

export interface Simulator {
  app: Hono;
  state: SimState;
  config: SimConfig;
  clock: SimClock;
  /** Set once listening. */
  url: string | null;
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  pushTicket(opts?: { repeat?: boolean }): ReturnType<typeof pushTicket>;
  advanceClock(seconds: number): void;
  /** Resolves when every push in flight has settled. */
  idle(): Promise<void>;
  reset(): void;
}

export function createSimulator(opts: SimulatorOptions): Simulator {
  const config = resolveConfig(opts);
  const clock = new SimClock(opts.clock);
  const state = new SimState({
    miniPrograms: opts.miniPrograms,
    releaseTest: opts.seedReleaseTestAccounts ?? true,
  });
  const crypto = new WeChatCrypto({
    token: config.componentToken,
    encodingAesKey: config.componentAesKey,
    appid: config.componentAppid,
  });
  const log = opts.log ?? (() => {});
  let listenUrl: string | null = null;
  let server: ServerType | null = null;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const pushes = new PushService({ config, state: () => state, clock, crypto: () => crypto, log });
  const ctx: SimContext = {
    config,
    state,
    clock,
    crypto: () => crypto,
    pushes,
    publicUrl: () =>
      (config.publicUrl ?? listenUrl ?? `http://127.0.0.1:${opts.port ?? 4000}`).replace(/\/+$/, ''),
    log,
    stopped,
  };

  const stateFile = opts.stateFile ? new StateFile(opts.stateFile, () => snapshot(state, clock), log) : null;
  const saved = stateFile?.load();
  if (saved) {
    restore(state, clock, saved);
    pushes.continueAfter(state.pushes);
  }
  if (stateFile) state.events.on('push', () => stateFile.markDirty());

  let timer: NodeJS.Timeout | null = null;
  const restartTimer = () => {
    if (timer) clearInterval(timer);
    timer = null;
    if (config.ticketIntervalMs > 0 && server) {
      // A missed ticket is WeChat's normal failure mode too; the relay recovers with api_start_push_ticket.
      timer = setInterval(() => pushTicket(ctx), config.ticketIntervalMs);
      timer.unref();
    }
  };

  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof ControlError) return problem(c, err);
    log(`simulator: unhandled error on ${c.req.path}: ${err instanceof Error ? err.stack : String(err)}`);
    return problem(c, new ControlError(500, 'internal_error', 'the simulator failed to handle this request'));
  });
  app.use('*', async (c, next) => {
    await next();
    // Any POST/PUT/PATCH/DELETE may change what WeChat remembers.
    if (c.req.method !== 'GET') stateFile?.markDirty();
  });
  app.get('/', (c) => c.redirect('/chat'));
  registerComponentApi(app, ctx);
  registerCustomMessageApi(app, ctx);
  registerMediaApi(app, ctx);
  registerAuthPage(app, ctx);
  registerChatPage(app, ctx);
  registerOpsControl(app, ctx, {
    onTicketIntervalChanged: restartTimer,
    reset: () => sim.reset(),
  });
  registerAccountControl(app, ctx);
  app.notFound((c) =>
    c.json({ errcode: 404, errmsg: `simulator: no route ${c.req.method} ${c.req.path}` }, 404),
  );

  const sim: Simulator = {
    app,
    state,
    config,
    clock,
    get url() {
      return listenUrl;
    },
    async start() {
      if (server) throw new Error('simulator already started');
      const host = opts.host ?? '127.0.0.1';
      const info = await new Promise<AddressInfo>((resolve, reject) => {
        const s = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: host }, resolve);
        s.once('error', reject);
        server = s;
      });
      listenUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${info.port}`;
      restartTimer();
      if (config.pushTicketOnStart) pushTicket(ctx);
      return { url: listenUrl, port: info.port };
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      resolveStopped();
      await pushes.stop();
      stateFile?.flush();
      const s = server;
      server = null;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        if ('closeAllConnections' in s) s.closeAllConnections();
      });
    },
    pushTicket: (o) => pushTicket(ctx, o),
    advanceClock: (seconds) => clock.advance(seconds * 1000),
    idle: () => pushes.idle(),
    reset() {
      state.reset();
      clock.reset();
      Object.assign(config, resolveConfig(opts));
      restartTimer();
    },
  };
  return sim;
}

/** Creates the simulator and listens on `opts.port ?? 0` at 127.0.0.1 (or `opts.host`). */
export async function startSimulator(
  opts: SimulatorOptions,
): Promise<Simulator & { url: string; port: number }> {
  const sim = createSimulator(opts);
  const { port } = await sim.start();
  return Object.assign(sim, { port }) as Simulator & { url: string; port: number };
}
