/** Options of `createSimulator`; every field but the component credentials has WeChat's real default. */
export interface SimulatorOptions {
  componentAppid: string;
  componentAppsecret: string;
  componentToken: string;
  /** The 43-char EncodingAESKey. */
  componentAesKey: string;
  /** kefu-relay's PUBLIC_BASE_URL: events go to `/wechat/component`, pushes to `/wechat/callback/$APPID$`. */
  relayBaseUrl?: string;
  /** Override the console's 授权事件接收URL (default `${relayBaseUrl}/wechat/component`). */
  componentEventUrl?: string;
  /** Override the console's 消息与事件接收URL; `$APPID$` is replaced per push. */
  callbackUrlTemplate?: string;
  /** Where the simulator itself is reachable (PicUrl, ThumbUrl); default: the address it listens on. */
  publicUrl?: string;
  port?: number;
  host?: string;
  ticketIntervalMs?: number;
  pushTicketOnStart?: boolean;
  /** Chance that a timer push repeats the previous ticket value, as WeChat does. */
  ticketRepeatProbability?: number;
  tokenTtlSeconds?: number;
  preAuthCodeTtlSeconds?: number;
  authCodeTtlSeconds?: number;
  mediaTtlSeconds?: number;
  /** How long a rotated-away refresh token keeps working. */
  refreshTokenGraceSeconds?: number;
  /** How long an authorizer access token keeps working after a newer one was issued. */
  authorizerTokenGraceSeconds?: number;
  pushTimeoutMs?: number;
  pushAttempts?: number;
  /** From the start of one push attempt to the start of the next (WeChat: 5 s, whether it timed out or failed fast). */
  pushRetryDelayMs?: number;
  sendWindow?: Partial<SendWindowLimits>;
  ipWhitelist?: string[] | null;
  quotas?: Quotas;
  /** Permission sets the platform itself was granted in the Open Platform console (missing 19 → 61007). */
  platformPermissions?: number[];
  miniPrograms?: MiniProgramSeed[];
  /** Seed the ten 全网发布 test accounts of wechat-protocol.md §8 (default true). */
  seedReleaseTestAccounts?: boolean;
  clock?: { now(): Date | number } | (() => number);
  /** Keep the simulator's memory in this JSON file across restarts (the sandbox's DATA_DIR); default none. */
  stateFile?: string;
  /** Receives one line per noteworthy event; default silent. */
  log?: (line: string) => void;
}

export interface WindowLimit {
  count: number;
  seconds: number;
}

export interface SendWindowLimits {
  enterSession: WindowLimit;
  userMessage: WindowLimit;
}

export interface Quotas {
  daily?: number | null;
  perMinute?: number | null;
}

export interface MiniProgramSeed {
  appid: string;
  userName?: string;
  nickname?: string;
  headImg?: string;
  principalName?: string;
  accountStatus?: number;
  /** openids; each one already "known" (as if it had written before). */
  users?: string[];
}

/** The mutable runtime configuration; the control API changes it, `reset` restores it. */
export interface SimConfig {
  componentAppid: string;
  componentAppsecret: string;
  componentToken: string;
  componentAesKey: string;
  relayBaseUrl: string;
  componentEventUrl: string | null;
  callbackUrlTemplate: string | null;
  publicUrl: string | null;
  ticketIntervalMs: number;
  pushTicketOnStart: boolean;
  ticketRepeatProbability: number;
  tokenTtlSeconds: number;
  preAuthCodeTtlSeconds: number;
  authCodeTtlSeconds: number;
  mediaTtlSeconds: number;
  refreshTokenGraceSeconds: number;
  authorizerTokenGraceSeconds: number;
  pushTimeoutMs: number;
  pushAttempts: number;
  pushRetryDelayMs: number;
  sendWindow: SendWindowLimits;
  ipWhitelist: string[] | null;
  quotas: { daily: number | null; perMinute: number | null };
  platformPermissions: number[];
}

/** Permission sets offered on the authorization page (id → 权限集 name). */
export const PERMISSION_SETS: Record<number, string> = {
  17: '小程序帐号管理权限',
  18: '小程序开发管理与数据分析权限',
  19: '小程序客服管理权限',
  25: '小程序插件管理权限',
  30: '小程序基本信息设置权限',
  31: '小程序认证权限',
  36: '微信卡路里权限',
  37: '附近的小程序权限',
  40: '小程序云开发权限',
  41: '小程序地理位置接口权限',
  45: '小程序订阅消息权限',
  49: '小程序直播管理权限',
};

export const CUSTOMER_SERVICE_PERMISSION = 19;

export function resolveConfig(opts: SimulatorOptions): SimConfig {
  if (!/^[A-Za-z0-9]{43}$/.test(opts.componentAesKey)) {
    throw new Error('componentAesKey must be 43 characters of [A-Za-z0-9]');
  }
  const relayBaseUrl = (opts.relayBaseUrl ?? 'http://localhost:3000').replace(/\/+$/, '');
  return {
    componentAppid: opts.componentAppid,
    componentAppsecret: opts.componentAppsecret,
    componentToken: opts.componentToken,
    componentAesKey: opts.componentAesKey,
    relayBaseUrl,
    componentEventUrl: opts.componentEventUrl ?? null,
    callbackUrlTemplate: opts.callbackUrlTemplate ?? null,
    publicUrl: opts.publicUrl ?? null,
    ticketIntervalMs: opts.ticketIntervalMs ?? 600_000,
    pushTicketOnStart: opts.pushTicketOnStart ?? true,
    ticketRepeatProbability: opts.ticketRepeatProbability ?? 0.3,
    tokenTtlSeconds: opts.tokenTtlSeconds ?? 7200,
    preAuthCodeTtlSeconds: opts.preAuthCodeTtlSeconds ?? 600,
    authCodeTtlSeconds: opts.authCodeTtlSeconds ?? 600,
    mediaTtlSeconds: opts.mediaTtlSeconds ?? 259_200,
    refreshTokenGraceSeconds: opts.refreshTokenGraceSeconds ?? 300,
    authorizerTokenGraceSeconds: opts.authorizerTokenGraceSeconds ?? 300,
    pushTimeoutMs: opts.pushTimeoutMs ?? 5000,
    pushAttempts: opts.pushAttempts ?? 3,
    pushRetryDelayMs: opts.pushRetryDelayMs ?? 5000,
    sendWindow: {
      enterSession: opts.sendWindow?.enterSession ?? { count: 1, seconds: 60 },
      userMessage: opts.sendWindow?.userMessage ?? { count: 5, seconds: 172_800 },
    },
    ipWhitelist: opts.ipWhitelist ?? null,
    quotas: { daily: opts.quotas?.daily ?? null, perMinute: opts.quotas?.perMinute ?? null },
    platformPermissions: opts.platformPermissions ?? Object.keys(PERMISSION_SETS).map(Number),
  };
}

export function componentEventUrl(config: SimConfig): string {
  return config.componentEventUrl ?? `${config.relayBaseUrl}/wechat/component`;
}

export function callbackUrl(config: SimConfig, appid: string): string {
  const template = config.callbackUrlTemplate ?? `${config.relayBaseUrl}/wechat/callback/$APPID$`;
  return template.replaceAll('$APPID$', appid);
}
