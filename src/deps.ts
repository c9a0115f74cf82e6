import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { SecretBox } from './secrets.js';
import type { WeChatClient } from './wechat/client.js';
import type { WeChatCrypto } from './wechat/crypto.js';

/** Everything a request or a job needs, built once in main.ts (or by the test helpers) and passed down. */
export interface Deps {
  config: Config;
  db: Database;
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  /** AES-GCM for tokens and secrets at rest */
  secrets: SecretBox;
  /** keys derived from MASTER_KEY */
  keys: { apiKeyHash: Buffer; oauthState: Buffer; lookup: Buffer };
  /** the one client for every WeChat API call */
  wechat: WeChatClient;
  /** the component's WXBizMsgCrypt (token, EncodingAESKey, component appid as tail) */
  crypto: WeChatCrypto;
  /** how many migrations this build ships, for /readyz */
  expectedMigrations: number;
  /**
   * stopping: shutdown began (the drain included): /readyz answers 503 and every response closes its connection.
   * closing: the drain is over and the deadline runs: the listener closes and sends are refused.
   */
  lifecycle: { stopping: boolean; closing: boolean };
}

/** What a service call carries: the tenant it acts for, the logger bound to the request, its id. */
export interface RequestContext {
  deps: Deps;
  log: Logger;
  requestId: string;
  tenantId: string;
}
