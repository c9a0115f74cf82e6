import { isIP } from 'node:net';

/**
 * The private-network guard of http-api.md §4: webhook URLs must not reach loopback, unspecified, private,
 * shared (CGNAT), link-local, multicast or reserved addresses, in any spelling (IPv4-mapped and -embedding IPv6
 * forms included). Pure: the DNS side lives with its callers, which pass the resolved addresses here.
 */

type Range4 = readonly [base: number, bits: number, name: string];

const V4_RANGES: readonly Range4[] = [
  [ipv4(0, 0, 0, 0), 8, 'unspecified'],
  [ipv4(10, 0, 0, 0), 8, 'private'],
  [ipv4(100, 64, 0, 0), 10, 'shared address space'],
  [ipv4(127, 0, 0, 0), 8, 'loopback'],
  [ipv4(169, 254, 0, 0), 16, 'link-local'],
  [ipv4(172, 16, 0, 0), 12, 'private'],
  [ipv4(192, 0, 0, 0), 24, 'IETF protocol assignments'],
  [ipv4(192, 0, 2, 0), 24, 'documentation'],
  [ipv4(192, 168, 0, 0), 16, 'private'],
  [ipv4(198, 18, 0, 0), 15, 'benchmarking'],
  [ipv4(198, 51, 100, 0), 24, 'documentation'],
  [ipv4(203, 0, 113, 0), 24, 'documentation'],
  [ipv4(224, 0, 0, 0), 4, 'multicast'],
  [ipv4(240, 0, 0, 0), 4, 'reserved'],
];

function ipv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, dotted IPv4 tail accepted), or null. */
export function parseIpv6(text: string): number[] | null {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return null;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    // "…:1.2.3.4" is two groups spelled as an IPv4 address
    const v4 = parseIpv4(last);
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const toGroups = (h: string) => (h === '' ? [] : h.split(':').map((g) => Number.parseInt(g, 16)));
  const head = toGroups(halves[0] as string);
  const rest = halves.length === 2 ? toGroups(halves[1] as string) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

function v4Reason(n: number): string | null {
  for (const [base, bits, name] of V4_RANGES) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === base) return name;
  }
  return null;
}

function v6Reason(g: number[]): string | null {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const embedded = () => ((g6 << 16) | g7) >>> 0;
  const zeroTo = (k: number) => g.slice(0, k).every((x) => x === 0);
  if (zeroTo(8)) return 'unspecified';
  if (zeroTo(7) && g7 === 1) return 'loopback';
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated), 64:ff9b::a.b.c.d (NAT64)
  if (zeroTo(5) && g5 === 0xffff) return v4Reason(embedded());
  if (zeroTo(6)) return v4Reason(embedded());
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return v4Reason(embedded());
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return v4Reason(embedded());
  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): a network's own translator, to whatever IPv4 it serves
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'local-use NAT64';
  // 6to4 carries an IPv4 address in groups 1–2
  if (g0 === 0x2002) return v4Reason(((g1 << 16) | g2) >>> 0);
  // 2001::/32 Teredo tunnels to an address of its own choosing; 2001:db8::/32 and 3fff::/20 are documentation
  if (g0 === 0x2001 && g1 === 0) return 'Teredo';
  if ((g0 === 0x2001 && g1 === 0xdb8) || (g0 & 0xfff0) === 0x3ff0) return 'documentation';
  // 100::/64 discards whatever is sent to it
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'discard-only';
  if ((g0 & 0xfe00) === 0xfc00) return 'unique local';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xffc0) === 0xfec0) return 'site-local';
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  return null;
}

/**
 * Why an IP address may not be a webhook target ('loopback', 'private', …), or null when it is public.
 * Anything that is not an IP address at all is refused too: callers only pass resolved addresses.
 */
export function blockedAddressReason(address: string): string | null {
  const v4 = parseIpv4(address);
  if (v4 !== null) return v4Reason(v4);
  const v6 = parseIpv6(address);
  if (v6 !== null) return v6Reason(v6);
  return 'not an IP address';
}

/** The hostname of a parsed URL as an IP literal (brackets removed), or null when it is a name. */
export function ipLiteral(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : null;
}

export type UrlProblem = { message: string };

/** Syntax of a webhook URL: absolute http(s), at most 2,048 characters, no credentials. */
export function webhookUrlSyntaxProblem(raw: string): UrlProblem | null {
  if (raw.length > 2048) return { message: 'must be at most 2048 characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { message: 'must be an absolute http(s) URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { message: 'must be an http(s) URL' };
  if (!url.hostname) return { message: 'must name a host' };
  if (url.username || url.password) return { message: 'must not carry credentials' };
  return null;
}

/** The guard's verdict over every address a name resolved to: one bad address is enough to refuse. */
export function refusedAddress(host: string, addresses: readonly string[]): string | null {
  for (const address of addresses) {
    const reason = blockedAddressReason(address);
    // the address a name resolves to is not told: tenants would learn the platform's internal DNS from it
    if (reason)
      return address === host
        ? `${address} is a ${reason} address`
        : `${host} resolves to a ${reason} address`;
  }
  return null;
}
