import { describe, expect, it } from 'vitest';
import {
  blockedAddressReason,
  ipLiteral,
  parseIpv6,
  refusedAddress,
  webhookUrlSyntaxProblem,
} from '../../../src/delivery/address-guard.js';
import { guardedLookup, webhookUrlProblem } from '../../../src/delivery/url-policy.js';

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared address space'],
    ['100.127.255.255', 'shared address space'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['0:0:0:0:0:ffff:10.0.0.1', 'private'],
    ['::ffff:0:192.168.0.1', 'private'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::10.1.2.3', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['[::1]', 'loopback'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.255', 'documentation'],
    ['64:ff9b:1::7f00:1', 'local-use NAT64'],
    ['64:ff9b:1:ffff::808:808', 'local-use NAT64'],
    ['2001::7f00:1', 'Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['100::1', 'discard-only'],
  ])('%s is refused (%s)', (address, reason) => {
    expect(blockedAddressReason(address)).toBe(reason);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '192.169.0.1',
    '223.255.255.255',
    '11.0.0.1',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '2001:1::1',
    '192.0.3.1',
    '198.51.99.255',
    '203.0.114.0',
    '100:0:0:1::1',
    '64:ff9b:2::1',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    'fbff::1',
    'fec0::1',
  ])('%s is public', (address) => {
    // fec0::/10 (deprecated site-local) is refused; everything else here is public
    if (address === 'fec0::1') expect(blockedAddressReason(address)).toBe('site-local');
    else expect(blockedAddressReason(address)).toBeNull();
  });

  it('refuses what is not an address at all', () => {
    expect(blockedAddressReason('localhost')).toBe('not an IP address');
    expect(blockedAddressReason('1.2.3')).toBe('not an IP address');
    expect(blockedAddressReason('256.1.1.1')).toBe('not an IP address');
  });
});

describe('parseIpv6', () => {
  it('expands compressed forms and dotted tails', () => {
    expect(parseIpv6('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6('2001:db8::8:800:200c:417a')).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(parseIpv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(parseIpv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIpv6('1.2.3.4')).toBeNull();
    expect(parseIpv6('1::2::3')).toBeNull();
  });
});

describe('URLs', () => {
  it('takes IP literals out of hostnames, as the URL parser normalises them', () => {
    expect(ipLiteral(new URL('http://[::ffff:127.0.0.1]:8080/').hostname)).toBe('::ffff:7f00:1');
    expect(ipLiteral(new URL('http://2130706433/').hostname)).toBe('127.0.0.1');
    expect(ipLiteral(new URL('http://0x7f.1/').hostname)).toBe('127.0.0.1');
    expect(ipLiteral('example.com')).toBeNull();
  });

  it('checks the syntax', () => {
    expect(webhookUrlSyntaxProblem('https://example.com/hook')).toBeNull();
    expect(webhookUrlSyntaxProblem('ftp://example.com/')?.message).toMatch(/http/);
    expect(webhookUrlSyntaxProblem('not a url')?.message).toMatch(/absolute/);
    expect(webhookUrlSyntaxProblem('https://user:pw@example.com/')?.message).toMatch(/credentials/);
    expect(webhookUrlSyntaxProblem(`https://example.com/${'a'.repeat(2048)}`)?.message).toMatch(/2048/);
  });

  it('refuses a name if any of its addresses is private', () => {
    expect(refusedAddress('a.test', ['93.184.216.34'])).toBeNull();
    expect(refusedAddress('a.test', ['93.184.216.34', '10.0.0.1'])).toBe(
      'a.test resolves to a private address',
    );
  });

  it('checks literal addresses and DNS answers, unless private networks are allowed', async () => {
    const resolveTo =
      (...addresses: string[]) =>
      async () =>
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    expect(await webhookUrlProblem('http://127.0.0.1:9/x', false)).toMatch(/loopback/);
    expect(await webhookUrlProblem('http://[::ffff:169.254.169.254]/', false)).toMatch(/link-local/);
    expect(await webhookUrlProblem('http://127.0.0.1:9/x', true)).toBeNull();
    expect(await webhookUrlProblem('https://hooks.test/x', false, resolveTo('93.184.216.34'))).toBeNull();
    expect(await webhookUrlProblem('https://hooks.test/x', false, resolveTo('169.254.169.254'))).toMatch(
      /hooks\.test resolves to a link-local address/,
    );
    expect(await webhookUrlProblem('http://localhost:9/x', false)).toMatch(
      /localhost resolves to .*loopback/,
    );
    const unresolvable = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    // checked again at delivery time, so a name that does not resolve yet is accepted
    expect(await webhookUrlProblem('https://later.test/x', false, unresolvable)).toBeNull();
  });
});

describe('guardedLookup', () => {
  // what net.connect does with it: the address handed to the callback is the one the socket dials
  const lookupWith = (answer: { address: string; family: number }[], options: Record<string, unknown>) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((done) => {
      const lookup = guardedLookup(async () => answer);
      (lookup as unknown as (h: string, o: object, cb: (...a: unknown[]) => void) => void)(
        'hooks.example.test',
        options,
        (err, address, family) => done({ err: err as Error | null, address, family: family as number }),
      );
    });
  const publicPair = [
    { address: '93.184.216.34', family: 4 },
    { address: '2606:4700::1111', family: 6 },
  ];

  it('hands the socket exactly the addresses it checked', async () => {
    expect(await lookupWith(publicPair, {})).toEqual({ err: null, address: '93.184.216.34', family: 4 });
    expect(await lookupWith(publicPair, { family: 6 })).toEqual({
      err: null,
      address: '2606:4700::1111',
      family: 6,
    });
    expect((await lookupWith(publicPair, { all: true })).address).toEqual(publicPair);
  });

  it('refuses the whole name when any answer is blocked, and says no usable address for a family it lacks', async () => {
    const mixed = await lookupWith([...publicPair, { address: '127.0.0.1', family: 4 }], { all: true });
    expect(mixed.err?.message).toBe('hooks.example.test resolves to a loopback address');
    const noV6 = await lookupWith([{ address: '93.184.216.34', family: 4 }], { family: 6 });
    expect(noV6.err?.message).toMatch(/no usable address/);
  });
});
