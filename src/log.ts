import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values are secrets wherever they appear (two levels deep, plus request headers).
 * pino's redaction is path based, so nested objects that may carry secrets are listed explicitly.
 */
const SECRET_KEYS = [
  'authorization',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'componentAccessToken',
  'component_access_token',
  'authorizer_access_token',
  'authorizer_refresh_token',
  'secret',
  'appsecret',
  'key',
  'apiKey',
  'adminToken',
  'masterKey',
  'password',
  'ticket',
  'encodingAesKey',
  'aesKey',
];

const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'kefu-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/** Removes token-bearing query parameters from a URL before it goes anywhere near a log line. */
export function redactUrl(url: string): string {
  return url.replace(/((?:component_)?access_token|token|secret|ticket)=[^&#]*/gi, '$1=[redacted]');
}
