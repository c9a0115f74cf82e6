import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.js';
import type {
  CallRecord,
  Fault,
  PushRecord,
  ReceivedMessage,
  Ticket,
  TimelineEntry,
} from '../../src/simulator/state.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Fresh component credentials, shaped like the console's. */
export function randomComponentCredentials() {
  return {
    componentAppid: `wx${randomBytes(8).toString('hex')}`,
    componentAppsecret: randomBytes(16).toString('hex'),
    componentToken: randomBytes(8).toString('hex'),
    componentAesKey: [...randomBytes(43)].map((b) => ALNUM[b % ALNUM.length]).join(''),
  };
}

/** A loopback URL nothing listens on (a port just freed), so pushes fail fast with ECONNREFUSED. */
export async function unreachableUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface PushView extends PushRecord {
  attemptCount: number;
}

export interface MiniProgramView {
  appid: string;
  userName: string;
  nickname: string;
  accountStatus: number;
  releaseTest: boolean;
  authorized: boolean;
  permissions: number[];
  authTime: number | null;
  revokedAt: number | null;
  users: Array<{ openid: string; nickname: string; known: boolean }>;
}

export interface ConversationView {
  window: { open: boolean; remaining: number; deadline: number | null };
  typing: boolean;
  timeline: TimelineEntry[];
}

export type UserActionBody =
  | { type: 'enter_session'; sessionFrom?: string }
  | { type: 'text'; content: string }
  | { type: 'image'; imageBase64?: string; filename?: string }
  | { type: 'miniprogrampage'; title: string; pagePath: string; thumbBase64?: string }
  | { type: 'event'; event: string; fields?: Record<string, string> }
  | { type: 'message'; msgType: string; fields?: Record<string, string> };

export interface ActionOptions {
  wait?: boolean;
  createTime?: number;
  msgId?: string;
}

export class ControlApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`simulator control API answered ${status}: ${JSON.stringify(body)}`);
  }
}

/** Typed calls of the simulator's control API (`/sim/…`), over HTTP like any other client. */
export class SimControl {
  constructor(readonly url: string) {}

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data: unknown = await res.json();
    if (!res.ok) throw new ControlApiError(res.status, data);
    return data as T;
  }

  private query(params: Record<string, string | number | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  reset = () => this.request('POST', '/sim/reset');
  config = () => this.request<Record<string, unknown>>('GET', '/sim/config');
  setConfig = (patch: Record<string, unknown>) => this.request('PATCH', '/sim/config', patch);
  advanceClock = (seconds: number) =>
    this.request<{ now: number }>('POST', '/sim/clock/advance', { seconds });
  now = async () => (await this.request<{ now: number }>('GET', '/sim/clock')).now;

  pushTicket = (opts: { repeat?: boolean; wait?: boolean } = {}) =>
    this.request<{ ticket: string; push: PushView }>('POST', '/sim/ticket', opts);
  tickets = async () => (await this.request<{ tickets: Ticket[] }>('GET', '/sim/tickets')).tickets;

  miniPrograms = async () =>
    (await this.request<{ miniPrograms: MiniProgramView[] }>('GET', '/sim/mini-programs')).miniPrograms;
  miniProgram = (appid: string) => this.request<MiniProgramView>('GET', `/sim/mini-programs/${appid}`);
  createMiniProgram = (
    body: { appid?: string; userName?: string; nickname?: string; users?: string[] } = {},
  ) => this.request<MiniProgramView>('POST', '/sim/mini-programs', body);
  createUser = (appid: string, body: { openid?: string; nickname?: string; known?: boolean } = {}) =>
    this.request<{ openid: string; nickname: string; known: boolean }>(
      'POST',
      `/sim/mini-programs/${appid}/users`,
      body,
    );

  createPreAuthCode = async () =>
    (await this.request<{ preAuthCode: string }>('POST', '/sim/pre-auth-codes')).preAuthCode;
  authorize = (body: {
    appid: string;
    preAuthCode?: string;
    permissions?: number[];
    redirectUri?: string;
    wait?: boolean;
  }) =>
    this.request<{
      infoType: string;
      authCode: string;
      expiresIn: number;
      redirectUrl: string | null;
      push: PushView;
    }>('POST', '/sim/authorize', body);
  revoke = (appid: string, wait = false) =>
    this.request<{ push: PushView }>('POST', `/sim/mini-programs/${appid}/revoke`, { wait });
  setPermissions = (appid: string, permissions: number[], wait = false) =>
    this.request<{ changed: boolean; authCode?: string; push: PushView | null }>(
      'POST',
      `/sim/mini-programs/${appid}/permissions`,
      { permissions, wait },
    );

  userAction = (appid: string, openid: string, action: UserActionBody, opts: ActionOptions = {}) =>
    this.request<{ openid: string; push: PushView }>(
      'POST',
      `/sim/mini-programs/${appid}/users/${encodeURIComponent(openid)}/actions`,
      { ...action, ...opts },
    );
  enterSession = (appid: string, openid: string, opts: ActionOptions & { sessionFrom?: string } = {}) => {
    const { sessionFrom, ...rest } = opts;
    return this.userAction(appid, openid, { type: 'enter_session', sessionFrom }, rest);
  };
  sendText = (appid: string, openid: string, content: string, opts: ActionOptions = {}) =>
    this.userAction(appid, openid, { type: 'text', content }, opts);
  sendImage = (appid: string, openid: string, opts: ActionOptions & { imageBase64?: string } = {}) => {
    const { imageBase64, ...rest } = opts;
    return this.userAction(appid, openid, { type: 'image', imageBase64 }, rest);
  };
  sendEvent = (
    appid: string,
    openid: string,
    event: string,
    fields?: Record<string, string>,
    opts: ActionOptions = {},
  ) => this.userAction(appid, openid, { type: 'event', event, fields }, opts);

  conversation = (appid: string, openid: string) =>
    this.request<ConversationView>(
      'GET',
      `/sim/mini-programs/${appid}/users/${encodeURIComponent(openid)}/conversation`,
    );
  setWindow = (appid: string, openid: string, body: { remaining?: number; deadline?: number | null }) =>
    this.request('PUT', `/sim/mini-programs/${appid}/users/${encodeURIComponent(openid)}/window`, body);

  addFault = (fault: {
    api: string;
    kind: Fault['kind'];
    errcode?: number;
    errmsg?: string;
    delayMs?: number;
    status?: number;
    body?: string;
    times?: number;
  }) => this.request<Fault>('POST', '/sim/faults', fault);
  clearFaults = (api?: string) => this.request('DELETE', `/sim/faults${this.query({ api })}`);

  invalidateToken = (kind: 'component' | 'authorizer', appid?: string) =>
    this.request<{ invalidated: number }>('POST', '/sim/tokens/invalidate', { kind, appid });
  tokens = async () =>
    (
      await this.request<{
        tokens: Array<{
          kind: string;
          appid: string | null;
          prefix: string;
          status: string;
          expiresAt: number;
        }>;
      }>('GET', '/sim/tokens')
    ).tokens;

  calls = async (api?: string) =>
    (await this.request<{ calls: CallRecord[] }>('GET', `/sim/calls${this.query({ api })}`)).calls;
  pushes = async (
    filter: { kind?: string; appid?: string; openid?: string; type?: string; status?: string } = {},
  ) => (await this.request<{ pushes: PushView[] }>('GET', `/sim/pushes${this.query(filter)}`)).pushes;
  push = (id: string) => this.request<PushView>('GET', `/sim/pushes/${id}`);
  /** Waits until no push is in flight. */
  idle = () => this.request('POST', '/sim/pushes/idle');
  messages = async (filter: { appid?: string; openid?: string } = {}) =>
    (await this.request<{ messages: ReceivedMessage[] }>('GET', `/sim/messages${this.query(filter)}`))
      .messages;
  typing = async (filter: { appid?: string; openid?: string } = {}) =>
    (
      await this.request<{ typing: Array<{ appid: string; openid: string; typing: boolean }> }>(
        'GET',
        `/sim/typing${this.query(filter)}`,
      )
    ).typing;
  releaseCheck = (body: { appid?: string; event?: string; timeoutMs?: number } = {}) =>
    this.request<{
      ok: boolean;
      appid: string;
      openid: string;
      steps: Array<{ name: string; ok: boolean; detail: string }>;
    }>('POST', '/sim/release-check', body);
}

export interface TestSimulator {
  url: string;
  sim: Simulator;
  control: SimControl;
  credentials: ReturnType<typeof randomComponentCredentials>;
  close(): Promise<void>;
}

/**
 * Starts a simulator on 127.0.0.1:0 for a test file. Defaults suit tests: fresh credentials, pushes to a
 * closed port unless `relayBaseUrl` is given, no ticket timer, no ticket at start, no repeated tickets, 2 s push
 * timeout, no delay between push attempts. Override anything.
 */
export async function startTestSimulator(overrides: Partial<SimulatorOptions> = {}): Promise<TestSimulator> {
  const credentials = randomComponentCredentials();
  const options: SimulatorOptions = {
    ...credentials,
    relayBaseUrl: overrides.relayBaseUrl ?? (await unreachableUrl()),
    ticketIntervalMs: 0,
    pushTicketOnStart: false,
    pushTimeoutMs: 2000,
    pushRetryDelayMs: 0,
    // Deterministic by default; WeChat's occasional repeated ticket can be asked for with { repeat: true }.
    ticketRepeatProbability: 0,
    ...overrides,
  };
  const sim = await startSimulator(options);
  return {
    url: sim.url,
    sim,
    control: new SimControl(sim.url),
    credentials: {
      componentAppid: options.componentAppid,
      componentAppsecret: options.componentAppsecret,
      componentToken: options.componentToken,
      componentAesKey: options.componentAesKey,
    },
    close: () => sim.stop(),
  };
}
