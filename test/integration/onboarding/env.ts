import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '../../../src/app.js';
import { ManualClock } from '../../../src/clock.js';
import type { Config } from '../../../src/config.js';
import { type Database, openDatabase } from '../../../src/db/client.js';
import type { Deps } from '../../../src/deps.js';
import { createLogger } from '../../../src/log.js';
import { buildDeps } from '../../../src/service.js';
import { buildEncryptedPush } from '../../../src/wechat/envelope.js';
import { createHarness, LogCapture, type TestHarness, testConfig } from '../../helpers/app.js';
import { startTestSimulator, type TestSimulator, unreachableUrl } from '../../helpers/simulator.js';

/** A kefu-relay instance listening on 127.0.0.1, its own deps over a (possibly shared) database. */
export interface RelayInstance {
  deps: Deps;
  url: string;
  logs: LogCapture;
  close(): Promise<void>;
}

export interface OnboardingEnv {
  clock: ManualClock;
  sim: TestSimulator;
  h: TestHarness;
  /** the first instance (the harness's deps), listening where the simulator pushes */
  relay: RelayInstance;
  config: Config;
  /** another app instance on the same database (a restart, or a second process behind the balancer) */
  startInstance(opts?: { db?: Database }): Promise<RelayInstance>;
  /** POSTs a component event plaintext to /wechat/component, signed and encrypted as WeChat does */
  pushComponentEvent(plaintext: string, opts?: { tamper?: boolean }): Promise<Response>;
  close(): Promise<void>;
}

async function listen(deps: Deps, port = 0): Promise<{ server: ServerType; url: string }> {
  const app = createApp(deps);
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => resolve(s));
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closeServer = (server: ServerType) =>
  new Promise<void>((resolve) => {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });

/**
 * The simulator and kefu-relay wired to each other over HTTP, sharing one ManualClock: kefu-relay calls the
 * simulator as WeChat (WECHAT_API_BASE_URL), the simulator pushes to and redirects at kefu-relay.
 */
export async function startOnboardingEnv(
  opts: { env?: Record<string, string>; sim?: Parameters<typeof startTestSimulator>[0] } = {},
): Promise<OnboardingEnv> {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
  // The relay's address must be known before its config (PUBLIC_BASE_URL): take a free port, then bind it.
  const base = await unreachableUrl();
  const port = Number(new URL(base).port);
  const sim = await startTestSimulator({ clock, relayBaseUrl: base, ...opts.sim });
  const env = {
    WECHAT_API_BASE_URL: sim.url,
    WECHAT_COMPONENT_APPID: sim.credentials.componentAppid,
    WECHAT_COMPONENT_APPSECRET: sim.credentials.componentAppsecret,
    WECHAT_COMPONENT_TOKEN: sim.credentials.componentToken,
    WECHAT_COMPONENT_AES_KEY: sim.credentials.componentAesKey,
    WECHAT_AUTH_PAGE_URL: `${sim.url}/cgi-bin/componentloginpage`,
    WECHAT_MOBILE_AUTH_PAGE_URL: `${sim.url}/wxaopen/safe/bindcomponent`,
    PUBLIC_BASE_URL: base,
    ...opts.env,
  };
  const h = await createHarness({ clock, env, logLevel: 'debug' });
  const config = testConfig(env);
  const first = await listen(h.deps, port);
  const instances: RelayInstance[] = [];
  const relay: RelayInstance = {
    deps: h.deps,
    url: first.url,
    logs: h.logs,
    close: async () => {
      await closeServer(first.server);
      await h.deps.wechat.close();
    },
  };
  instances.push(relay);

  const startInstance = async (o: { db?: Database } = {}) => {
    const ownDb = o.db ? undefined : h.database.url ? await openDatabase({ url: h.database.url }) : undefined;
    const db = o.db ?? ownDb ?? h.database.db;
    const logs = new LogCapture();
    const deps = buildDeps(config, { db, clock, log: createLogger({ level: 'debug', destination: logs }) });
    const { server, url } = await listen(deps);
    const inst: RelayInstance = {
      deps,
      url,
      logs,
      close: async () => {
        await closeServer(server);
        await deps.wechat.close();
        if (ownDb) await ownDb.close();
      },
    };
    instances.push(inst);
    return inst;
  };

  let nonce = 1000;
  const pushComponentEvent = async (plaintext: string, o: { tamper?: boolean } = {}) => {
    const timestamp = String(Math.floor(clock.now().getTime() / 1000));
    const n = String(nonce++);
    const push = buildEncryptedPush(h.deps.crypto, plaintext, {
      outer: { AppId: config.wechat.componentAppid },
      timestamp,
      nonce: n,
    });
    const sig = o.tamper
      ? push.msgSignature.replace(/^./, (ch) => (ch === 'a' ? 'b' : 'a'))
      : push.msgSignature;
    const q = new URLSearchParams({
      signature: push.signature,
      timestamp,
      nonce: n,
      encrypt_type: 'aes',
      msg_signature: sig,
    });
    return fetch(`${relay.url}/wechat/component?${q}`, { method: 'POST', body: push.body });
  };

  return {
    clock,
    sim,
    h,
    relay,
    config,
    startInstance,
    pushComponentEvent,
    close: async () => {
      for (const i of instances.reverse()) await i.close();
      await sim.close();
      await h.close();
    },
  };
}
