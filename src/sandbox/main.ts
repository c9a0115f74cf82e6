import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { lockDataDir } from '../db/data-dir-lock.js';
import { createLogger } from '../log.js';
import { startService } from '../service.js';
import { startSimulator } from '../simulator/index.js';
import { startEchoBot } from './echo-bot.js';
import { loadSandboxState } from './state.js';

const HELP = `npm run sandbox -- [options]

Runs kefu-relay on embedded PostgreSQL (PGlite) together with the WeChat simulator, with a demo tenant.
  --port N        kefu-relay's port (default 3000)
  --sim-port N    the simulator's port (default 4000)
  --bot-port N    the echo bot's port (default 3100)
  --data-dir DIR  where data lives (default $DATA_DIR or ./data); delete it to start over
  --echo-bot      register a demo webhook that answers every text with an echo
  --verbose       kefu-relay's info logs too`;

/** A mistake in how the sandbox was started: one line and a pointer to --help, no stack. */
class UsageError extends Error {}

function parse() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: '3000' },
        'sim-port': { type: 'string', default: '4000' },
        'bot-port': { type: 'string', default: '3100' },
        'data-dir': { type: 'string' },
        'echo-bot': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function portOf(flag: string, text: string): number {
  const n = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || n < 1 || n > 65535)
    throw new UsageError(`--${flag} must be a port from 1 to 65535`);
  return n;
}

/** Before anything is created in the data directory: a port in use fails the start with nothing left behind. */
async function ensureFree(flag: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UsageError(
              `port ${port} is in use (another sandbox?): stop it, or choose another with --${flag}`,
            )
          : err,
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const values = parse();
  if (values.help) {
    console.log(HELP);
    return;
  }
  const dataDir = resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data');
  const port = portOf('port', values.port);
  const simPort = portOf('sim-port', values['sim-port']);
  const botPort = portOf('bot-port', values['bot-port']);
  const ports = values['echo-bot'] ? [port, simPort, botPort] : [port, simPort];
  if (new Set(ports).size < ports.length) {
    throw new UsageError('--port, --sim-port and --bot-port must be three different ports');
  }
  await ensureFree('port', port);
  await ensureFree('sim-port', simPort);
  if (values['echo-bot']) await ensureFree('bot-port', botPort);
  // Another sandbox on this data directory: refused before its simulator state or credentials are touched
  // (kefu-relay takes the lock for good when it opens the database).
  if (existsSync(join(dataDir, 'pglite'))) lockDataDir(join(dataDir, 'pglite'))();
  const { state, save, fresh } = loadSandboxState(dataDir);
  const base = `http://localhost:${port}`;
  const say = (line = '') => process.stdout.write(`${line}\n`);

  const sim = await startSimulator({
    componentAppid: state.componentAppid,
    componentAppsecret: state.componentAppsecret,
    componentToken: state.componentToken,
    componentAesKey: state.componentAesKey,
    relayBaseUrl: base,
    port: simPort,
    // grants and tokens survive a restart, matching what kefu-relay keeps in DATA_DIR
    stateFile: join(dataDir, 'simulator.json'),
    // kefu-relay is not listening yet: it asks for a ticket (api_start_push_ticket) once it is.
    pushTicketOnStart: false,
  });
  const simUrl = `http://localhost:${sim.port}`;

  const config = loadConfig({
    DATA_DIR: join(dataDir, 'pglite'),
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_BASE_URL: base,
    WECHAT_COMPONENT_APPID: state.componentAppid,
    WECHAT_COMPONENT_APPSECRET: state.componentAppsecret,
    WECHAT_COMPONENT_TOKEN: state.componentToken,
    WECHAT_COMPONENT_AES_KEY: state.componentAesKey,
    WECHAT_API_BASE_URL: simUrl,
    WECHAT_AUTH_PAGE_URL: `${simUrl}/cgi-bin/componentloginpage`,
    WECHAT_MOBILE_AUTH_PAGE_URL: `${simUrl}/wxaopen/safe/bindcomponent`,
    ADMIN_TOKEN: state.adminToken,
    MASTER_KEY: state.masterKey,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    DELIVERY_RETRY_SCHEDULE: '2s,10s,1m,5m',
    LOG_LEVEL: values.verbose ? 'info' : 'warn',
    SHUTDOWN_TIMEOUT_MS: '5000',
  });
  const service = await startService(config, { log: createLogger({ level: config.logLevel }) });
  await sim.pushTicket();

  const call = async (path: string, init: { method?: string; body?: unknown; token: string }) => {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method ?? 'POST'} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : null) as Record<string, unknown>;
  };

  if (!state.tenantId || !state.apiKey) {
    const tenant = await call('/admin/tenants', { body: { name: 'Demo tenant' }, token: state.adminToken });
    const key = await call(`/admin/tenants/${tenant.id}/api-keys`, {
      body: { name: 'sandbox' },
      token: state.adminToken,
    });
    state.tenantId = tenant.id as string;
    state.apiKey = key.key as string;
    save();
  }
  const apiKey = state.apiKey;

  let bot: Awaited<ReturnType<typeof startEchoBot>> | undefined;
  if (values['echo-bot']) {
    bot = await startEchoBot({
      apiBaseUrl: base,
      apiKey,
      port: botPort,
      secret: () => state.echoBotSecret,
      log: say,
    });
    const existing = state.echoBotEndpointId
      ? await call(`/v1/webhook-endpoints/${state.echoBotEndpointId}`, { token: apiKey }).catch(() => null)
      : null;
    if (existing) {
      if (existing.url !== bot.url || existing.enabled !== true) {
        await call(`/v1/webhook-endpoints/${state.echoBotEndpointId}`, {
          method: 'PATCH',
          body: { url: bot.url, enabled: true },
          token: apiKey,
        });
      }
    } else {
      const ep = await call('/v1/webhook-endpoints', {
        body: { url: bot.url, description: 'sandbox echo bot', eventTypes: ['message.received'] },
        token: apiKey,
      });
      state.echoBotEndpointId = ep.id as string;
      state.echoBotSecret = ep.secret as string;
      save();
    }
  } else if (state.echoBotEndpointId) {
    // the bot ran last time and does not now: its endpoint would collect refused attempts until it failed
    const existing = await call(`/v1/webhook-endpoints/${state.echoBotEndpointId}`, { token: apiKey }).catch(
      () => null,
    );
    if (existing?.enabled === true) {
      await call(`/v1/webhook-endpoints/${state.echoBotEndpointId}`, {
        method: 'PATCH',
        body: { enabled: false },
        token: apiKey,
      });
      say(
        'The echo bot of the last run is not running: its webhook endpoint is disabled (--echo-bot enables it).',
      );
    }
  }

  const link = await call('/v1/authorization-links', { body: {}, token: apiKey });
  const auth = `-H "authorization: Bearer $KEFU_API_KEY"`;
  const json = `-H 'content-type: application/json'`;
  say();
  say(`kefu-relay sandbox ${fresh ? '(new data directory)' : '(data kept from the last run)'}`);
  say();
  say(`  API key              ${apiKey}`);
  say(`  Connect a mini-program (open in a browser, pick one, click Authorize):`);
  say(`                       ${link.url as string}`);
  say(`  Chat as a WeChat user ${simUrl}/chat`);
  say(`  API reference        ${base}/docs`);
  say(`  WeChat simulator     ${simUrl}/sim   (control API; see the README)`);
  say(`  Data                 ${dataDir}   (delete it to start over)`);
  if (bot) say(`  Echo bot             ${bot.url}  answers every text message with "echo: …"`);
  say();
  say('Try it (copy and paste):');
  say(`  export KEFU_API_KEY=${apiKey}`);
  say('  # register your own webhook receiver (any server answering 2xx; 127.0.0.1:3200 is an example)');
  say(
    `  curl -s -X POST ${base}/v1/webhook-endpoints ${auth} ${json} -d '{"url":"http://127.0.0.1:3200/webhook"}'`,
  );
  say('  # list the events (type something in the chat page first)');
  say(`  curl -s ${base}/v1/events ${auth}`);
  say('  # reply to the user (appid and openid from an event)');
  say(
    `  curl -s -X POST ${base}/v1/mini-programs/APPID/messages ${auth} ${json} -d '{"openid":"OPENID","type":"text","text":{"content":"Hello from kefu-relay"}}'`,
  );
  say();
  say('Sandbox ready. Ctrl-C stops everything.');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping…`);
    await bot?.stop();
    await service.stop();
    await sim.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`sandbox: ${err.message}\n(npm run sandbox -- --help lists the options)\n`);
    process.exit(2);
  }
  // the stack is for a bug report (--verbose); the message says what went wrong
  const detail =
    err instanceof Error ? (process.argv.includes('--verbose') ? err.stack : err.message) : String(err);
  process.stderr.write(`sandbox failed: ${detail}\n`);
  process.exit(1);
});
