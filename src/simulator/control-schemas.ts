import { z } from 'zod';

const windowLimit = z.strictObject({ count: z.int().min(0), seconds: z.int().min(1) });
const permissions = z.array(z.int().positive()).min(1);
const wait = z.boolean().optional();

export const configPatch = z.strictObject({
  relayBaseUrl: z.url().optional(),
  componentEventUrl: z.url().nullable().optional(),
  callbackUrlTemplate: z.string().min(1).nullable().optional(),
  publicUrl: z.url().nullable().optional(),
  ipWhitelist: z.array(z.string().min(1)).nullable().optional(),
  quotas: z
    .strictObject({
      daily: z.int().min(0).nullable().optional(),
      perMinute: z.int().min(0).nullable().optional(),
    })
    .optional(),
  sendWindow: z
    .strictObject({ enterSession: windowLimit.optional(), userMessage: windowLimit.optional() })
    .optional(),
  platformPermissions: z.array(z.int().positive()).optional(),
  tokenTtlSeconds: z.int().min(1).optional(),
  preAuthCodeTtlSeconds: z.int().min(1).optional(),
  authCodeTtlSeconds: z.int().min(1).optional(),
  mediaTtlSeconds: z.int().min(1).optional(),
  refreshTokenGraceSeconds: z.int().min(0).optional(),
  authorizerTokenGraceSeconds: z.int().min(0).optional(),
  pushTimeoutMs: z.int().min(1).optional(),
  pushAttempts: z.int().min(1).max(10).optional(),
  pushRetryDelayMs: z.int().min(0).optional(),
  ticketIntervalMs: z.int().min(0).optional(),
  ticketRepeatProbability: z.number().min(0).max(1).optional(),
});

export const clockAdvance = z
  .strictObject({ seconds: z.number().min(0).optional(), ms: z.number().min(0).optional() })
  .refine((v) => v.seconds !== undefined || v.ms !== undefined, 'give seconds or ms');

export const ticketPush = z.strictObject({ repeat: z.boolean().optional(), wait });

export const miniProgramCreate = z.strictObject({
  appid: z
    .string()
    .regex(/^wx[0-9a-z]{16}$/, 'appid is wx + 16 lowercase hex/alnum characters')
    .optional(),
  userName: z
    .string()
    .regex(/^gh_[0-9a-z]{12}$/, 'userName is gh_ + 12 lowercase hex/alnum characters')
    .optional(),
  nickname: z.string().min(1).max(60).optional(),
  headImg: z.string().optional(),
  principalName: z.string().optional(),
  accountStatus: z.int().optional(),
  users: z.array(z.string().min(1)).optional(),
});

export const miniProgramPatch = z.strictObject({
  nickname: z.string().min(1).max(60).optional(),
  headImg: z.string().optional(),
  principalName: z.string().optional(),
  accountStatus: z.int().optional(),
});

export const userCreate = z.strictObject({
  openid: z.string().min(1).max(64).optional(),
  nickname: z.string().min(1).max(60).optional(),
  /** true = as if the user had already written (custom/send does not answer 40003). */
  known: z.boolean().optional(),
});

export const authorize = z.strictObject({
  preAuthCode: z.string().min(1).optional(),
  appid: z.string().min(1),
  permissions: permissions.optional(),
  redirectUri: z.url().optional(),
  wait,
});

export const permissionsUpdate = z.strictObject({ permissions, wait });
export const revoke = z.strictObject({ wait });

const base64 = z.base64();
const actionCommon = {
  wait,
  createTime: z.int().positive().optional(),
  msgId: z
    .string()
    .regex(/^\d{1,20}$/)
    .optional(),
};

export const userAction = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('enter_session'), sessionFrom: z.string().optional(), ...actionCommon }),
  z.strictObject({ type: z.literal('text'), content: z.string().min(1), ...actionCommon }),
  z.strictObject({
    type: z.literal('image'),
    imageBase64: base64.optional(),
    filename: z.string().optional(),
    ...actionCommon,
  }),
  z.strictObject({
    type: z.literal('miniprogrampage'),
    title: z.string().min(1),
    pagePath: z.string().min(1),
    thumbBase64: base64.optional(),
    ...actionCommon,
  }),
  z.strictObject({
    type: z.literal('event'),
    event: z.string().regex(/^[A-Za-z0-9_]+$/),
    fields: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    ...actionCommon,
  }),
  z.strictObject({
    type: z.literal('message'),
    msgType: z.string().regex(/^[a-z_]+$/),
    fields: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    ...actionCommon,
  }),
]);

export const windowSet = z.strictObject({
  remaining: z.int().min(0).optional(),
  /** unix seconds; null = no window at all. */
  deadline: z.int().nullable().optional(),
});

export const faultCreate = z
  .strictObject({
    api: z.string().min(1),
    kind: z.enum(['errcode', 'delay', 'hang', 'drop', 'http']),
    errcode: z.int().optional(),
    errmsg: z.string().optional(),
    delayMs: z.int().min(0).optional(),
    status: z.int().min(100).max(599).optional(),
    body: z.string().optional(),
    times: z.int().min(1).optional(),
  })
  .refine((f) => f.kind !== 'errcode' || f.errcode !== undefined, 'kind "errcode" needs errcode')
  .refine((f) => f.kind !== 'delay' || f.delayMs !== undefined, 'kind "delay" needs delayMs');

export const tokenInvalidate = z
  .strictObject({ kind: z.enum(['component', 'authorizer']), appid: z.string().optional() })
  .refine((v) => v.kind === 'component' || v.appid !== undefined, 'an authorizer token needs appid');

export const releaseCheck = z.strictObject({
  appid: z.string().optional(),
  event: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .optional(),
  timeoutMs: z.int().min(1).max(120_000).optional(),
});
