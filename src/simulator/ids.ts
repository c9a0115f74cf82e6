import { randomBytes, randomInt } from 'node:crypto';

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function randomString(length: number, alphabet = TOKEN_ALPHABET): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[(bytes[i] as number) % alphabet.length];
  return out;
}

/** Access tokens look like WeChat's: a long opaque string with `_` and `-`. */
export const newAccessToken = (): string => randomString(136);
export const newPreAuthCode = (): string => `preauthcode@@@${randomString(64)}`;
export const newAuthCode = (): string => `queryauthcode@@@${randomString(86)}`;
export const newRefreshToken = (): string => `refreshtoken@@@${randomString(43)}`;
export const newTicket = (): string => `ticket@@@${randomString(86)}`;
export const newMediaId = (): string => randomString(64);
export const newNonce = (): string => String(randomInt(100_000_000, 2_000_000_000));

/** openids are 28 chars starting with `o` (e.g. o9AgO5Kd5ggOC-bXrbNODIiE3bGY). */
export const newOpenid = (): string => `o${randomString(27)}`;

export const newAppid = (): string => `wx${randomBytes(8).toString('hex')}`;
export const newUserName = (): string => `gh_${randomBytes(6).toString('hex')}`;

/** The `rid` WeChat appends to every errmsg: three groups of 8 hex digits. */
export const newRid = (): string =>
  `${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;

/**
 * Real MsgIds exceed 2^53 (JSON numbers lose them), so they are minted as 19-digit decimal strings from a
 * random start and incremented, which keeps them unique and increasing like WeChat's.
 */
export class MsgIdSequence {
  private next: bigint;
  constructor() {
    const start = 7_000_000_000_000_000_000n + BigInt(`0x${randomBytes(7).toString('hex')}`);
    this.next = start;
  }
  take(): string {
    this.next += 1n + BigInt(randomInt(1, 1000));
    return this.next.toString();
  }
}

/** A short, safe-to-show prefix of a secret value for inspection output. */
export const tokenPrefix = (token: string): string => `${token.slice(0, 8)}…`;
