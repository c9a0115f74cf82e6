import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { ipLiteral, refusedAddress, webhookUrlSyntaxProblem } from './address-guard.js';

/** Every address a hostname resolves to (what `dns.lookup` with `all: true` returns). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** Raised when the guard refuses an address; the attempt fails with its message and nothing is sent. */
export class BlockedAddressError extends Error {
  readonly code = 'ERR_KEFU_BLOCKED_ADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'BlockedAddressError';
  }
}

/**
 * Whether a webhook URL may be stored (creation and update): the syntax, then — unless private networks are
 * allowed — the literal address or every address the name resolves to now. A name that does not resolve yet
 * is accepted: delivery checks again after its own resolution, so it cannot slip through later.
 */
export async function webhookUrlProblem(
  raw: string,
  allowPrivateNetworks: boolean,
  resolve: Resolver = systemResolver,
): Promise<string | null> {
  const syntax = webhookUrlSyntaxProblem(raw);
  if (syntax) return syntax.message;
  if (allowPrivateNetworks) return null;
  const host = new URL(raw).hostname;
  const literal = ipLiteral(host);
  if (literal) return refusedAddress(literal, [literal]);
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    return null;
  }
  return refusedAddress(
    host,
    addresses.map((a) => a.address),
  );
}

/**
 * A `net.connect` lookup that resolves, refuses the whole name if any address is blocked, and hands the checked
 * addresses to the socket. The connection goes to exactly what was checked, so a DNS answer that changes
 * between a check and the connect (rebinding) has nothing to slip through.
 */
export function guardedLookup(resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const refused = refusedAddress(
          hostname,
          all.map((a) => a.address),
        );
        if (refused) return callback(new BlockedAddressError(refused), '', 0);
        const family = typeof options.family === 'number' ? options.family : 0;
        const usable = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
        if (usable.length === 0) {
          const err = Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' });
          return callback(err, '', 0);
        }
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
        const first = usable[0] as LookupAddress;
        callback(null, first.address, first.family || isIP(first.address));
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/** The delivery-time check of an IP-literal URL (net.connect skips lookup for literals). */
export function literalAddressProblem(url: URL): string | null {
  const literal = ipLiteral(url.hostname);
  return literal ? refusedAddress(literal, [literal]) : null;
}
