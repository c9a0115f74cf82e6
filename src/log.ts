import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Field names whose values are secrets. */
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

/**
 * Paths are explicit, never wildcards: pino's wildcard redaction costs ~30 µs per line and per child logger,
 * which on the push path is more than the crypto. Secrets are kept out of log objects by construction (the
 * WeChat client strips tokens from what it logs); this list is the safety net for the names that carry them.
 */
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...['headers', 'req.headers', 'request.headers', 'query', 'body', 'params'].flatMap((parent) =>
    SECRET_KEYS.map((k) => `${parent}.${k}`),
  ),
  'headers.cookie',
  'req.headers.cookie',
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
