import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { newAppid } from './ids.js';
import { startSimulator } from './index.js';

const HELP = `npm run simulator -- [options]

  --port N                 SIM_PORT                 listen port (default 4000)
  --host H                 SIM_HOST                 listen address (default 127.0.0.1)
  --relay-url URL          SIM_RELAY_URL            kefu-relay's PUBLIC_BASE_URL (default http://localhost:3000)
  --public-url URL         SIM_PUBLIC_URL           how others reach the simulator (default its listen URL)
  --component-appid ID     WECHAT_COMPONENT_APPID
  --component-appsecret S  WECHAT_COMPONENT_APPSECRET
  --component-token T      WECHAT_COMPONENT_TOKEN
  --component-aes-key K    WECHAT_COMPONENT_AES_KEY (43 chars of [A-Za-z0-9])
  --ticket-interval-ms N   SIM_TICKET_INTERVAL_MS   component_verify_ticket interval (default 600000, 0 = off)
  --state-file PATH        SIM_STATE_FILE           keep grants, tokens and tickets across restarts (default: memory only)
Missing credentials are generated and printed.`;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const generateAesKey = (): string => [...randomBytes(43)].map((b) => ALNUM[b % ALNUM.length]).join('');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'relay-url': { type: 'string' },
      'public-url': { type: 'string' },
      'component-appid': { type: 'string' },
      'component-appsecret': { type: 'string' },
      'component-token': { type: 'string' },
      'component-aes-key': { type: 'string' },
      'ticket-interval-ms': { type: 'string' },
      'state-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const env = process.env;
  const generated: string[] = [];
  const pick = (flag: string | undefined, name: string, make: () => string): string => {
    const value = flag ?? env[name];
    if (value) return value;
    generated.push(name);
    return make();
  };
  const componentAppid = pick(values['component-appid'], 'WECHAT_COMPONENT_APPID', newAppid);
  const componentAppsecret = pick(values['component-appsecret'], 'WECHAT_COMPONENT_APPSECRET', () =>
    randomBytes(16).toString('hex'),
  );
  const componentToken = pick(values['component-token'], 'WECHAT_COMPONENT_TOKEN', () =>
    randomBytes(12).toString('hex'),
  );
  const componentAesKey = pick(values['component-aes-key'], 'WECHAT_COMPONENT_AES_KEY', generateAesKey);
  const port = Number(values.port ?? env.SIM_PORT ?? 4000);
  const ticketInterval = values['ticket-interval-ms'] ?? env.SIM_TICKET_INTERVAL_MS;
  if (
    ticketInterval !== undefined &&
    !(Number.isInteger(Number(ticketInterval)) && Number(ticketInterval) >= 0)
  ) {
    throw new Error(`invalid ticket interval ${ticketInterval}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`invalid port ${values.port ?? env.SIM_PORT}`);
  if (!/^[A-Za-z0-9]{43}$/.test(componentAesKey)) {
    throw new Error('WECHAT_COMPONENT_AES_KEY must be exactly 43 characters of [A-Za-z0-9]');
  }
  const relayBaseUrl = values['relay-url'] ?? env.SIM_RELAY_URL ?? 'http://localhost:3000';

  const sim = await startSimulator({
    componentAppid,
    componentAppsecret,
    componentToken,
    componentAesKey,
    relayBaseUrl,
    port,
    host: values.host ?? env.SIM_HOST ?? '127.0.0.1',
    publicUrl: values['public-url'] ?? env.SIM_PUBLIC_URL,
    ticketIntervalMs: ticketInterval === undefined ? undefined : Number(ticketInterval),
    stateFile: values['state-file'] ?? env.SIM_STATE_FILE,
    log: (line) => console.log(line),
  });
  const url = sim.config.publicUrl ?? sim.url;
  const relayPort = new URL(relayBaseUrl).port;
  console.log(`WeChat simulator listening on ${sim.url}
  chat page        ${url}/chat
  control API      ${url}/sim
  pushes go to     ${relayBaseUrl}/wechat/component and ${relayBaseUrl}/wechat/callback/$APPID$
${generated.length > 0 ? `  generated        ${generated.join(', ')} (reuse them: put the lines below in your env file)\n` : ''}
# kefu-relay environment for this simulator:
WECHAT_API_BASE_URL=${url}
WECHAT_AUTH_PAGE_URL=${url}/cgi-bin/componentloginpage
WECHAT_MOBILE_AUTH_PAGE_URL=${url}/wxaopen/safe/bindcomponent
WECHAT_COMPONENT_APPID=${componentAppid}
WECHAT_COMPONENT_APPSECRET=${componentAppsecret}
WECHAT_COMPONENT_TOKEN=${componentToken}
WECHAT_COMPONENT_AES_KEY=${componentAesKey}
PUBLIC_BASE_URL=${relayBaseUrl}
${
  relayPort
    ? `PORT=${relayPort}   # where kefu-relay listens (no proxy in between)
`
    : ''
}# and kefu-relay's own: ADMIN_TOKEN (≥ 32 chars), MASTER_KEY (openssl rand -base64 32);
# WEBHOOK_ALLOW_PRIVATE_NETWORKS=true for webhook receivers on this machine
`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`simulator: ${signal}, stopping`);
    sim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
