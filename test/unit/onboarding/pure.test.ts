import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import type { Deps } from '../../../src/deps.js';
import { renderMiniProgram } from '../../../src/onboarding/authorizers.js';
import { dedupeKey } from '../../../src/onboarding/component-events.js';
import { returnUrlWith, signState, verifyState } from '../../../src/onboarding/links.js';
import { isReleaseTestAccount } from '../../../src/onboarding/release-accounts.js';
import { backgroundMarginMs, insideMargin, requestMarginMs } from '../../../src/onboarding/token-slot.js';

const keys = {
  lookup: Buffer.alloc(32, 1),
  oauthState: Buffer.alloc(32, 2),
  apiKeyHash: Buffer.alloc(32, 3),
};

describe('refresh margins (wechat-protocol.md §3.9)', () => {
  it('scale down with short lifetimes', () => {
    expect(backgroundMarginMs(7200_000)).toBe(600_000);
    expect(requestMarginMs(7200_000)).toBe(60_000);
    expect(backgroundMarginMs(10_000)).toBe(5_000);
    expect(requestMarginMs(10_000)).toBe(2_500);
  });

  it('a token is inside its margin when less than the margin is left', () => {
    const issuedAt = new Date(0);
    const t = { token: 't', version: 1, issuedAt, expiresAt: new Date(7200_000) };
    expect(insideMargin(t, new Date(7200_000 - 60_001), requestMarginMs)).toBe(false);
    expect(insideMargin(t, new Date(7200_000 - 59_999), requestMarginMs)).toBe(true);
    expect(insideMargin(t, new Date(7200_000 - 599_999), backgroundMarginMs)).toBe(true);
  });
});

describe('component event dedupe keys (§2.3)', () => {
  const deps = { keys } as unknown as Deps;
  it('ticket by value and CreateTime, never containing the ticket', () => {
    const a = dedupeKey(
      deps,
      { InfoType: 'component_verify_ticket', ComponentVerifyTicket: 'ticket@@@abc', CreateTime: '1' },
      'x',
    );
    const b = dedupeKey(
      deps,
      { InfoType: 'component_verify_ticket', ComponentVerifyTicket: 'ticket@@@abc', CreateTime: '2' },
      'x',
    );
    expect(a).not.toBe(b);
    expect(a).not.toContain('abc');
  });
  it('authorized by appid and code (a retry has the same code), unauthorized by appid and CreateTime', () => {
    const auth = (code: string, t: string) =>
      dedupeKey(
        deps,
        { InfoType: 'authorized', AuthorizerAppid: 'wx1', AuthorizationCode: code, CreateTime: t },
        'p',
      );
    expect(auth('c1', '1')).toBe(auth('c1', '2'));
    expect(auth('c1', '1')).not.toBe(auth('c2', '1'));
    expect(auth('queryauthcode@@@secret', '1')).not.toContain('secret');
    const un = (t: string) =>
      dedupeKey(deps, { InfoType: 'unauthorized', AuthorizerAppid: 'wx1', CreateTime: t }, 'p');
    expect(un('1')).not.toBe(un('2'));
  });
  it('other InfoTypes by type, CreateTime and the plaintext', () => {
    const k = (p: string) => dedupeKey(deps, { InfoType: 'notify', CreateTime: '1' }, p);
    expect(k('a')).toBe(k('a'));
    expect(k('a')).not.toBe(k('b'));
  });
});

describe('MiniProgram rendering', () => {
  const row = {
    appid: 'wx1',
    tenant_id: 't',
    user_name: 'gh_1',
    nickname: 'Shop',
    status: 'authorized',
    permissions: [19, 17],
    authorized_at: new Date(1000),
    updated_at: new Date(2000),
  };
  it('sorts permissions and derives customerService from set 19', () => {
    expect(renderMiniProgram(row)).toEqual({
      appid: 'wx1',
      userName: 'gh_1',
      nickname: 'Shop',
      status: 'authorized',
      permissions: [17, 19],
      customerService: true,
      authorizedAt: new Date(1000).toISOString(),
      updatedAt: new Date(2000).toISOString(),
    });
    expect(renderMiniProgram({ ...row, permissions: [17] }).customerService).toBe(false);
  });
});

describe('release-test accounts (§8)', () => {
  it('are recognised by appid or by user_name, for all ten', () => {
    expect(isReleaseTestAccount('wx570bc396a51b8ff8')).toBe(true);
    expect(isReleaseTestAccount('wx5910277cae6fd970')).toBe(true);
    expect(isReleaseTestAccount('wxother', 'gh_7818dcb60240')).toBe(true);
    expect(isReleaseTestAccount('wxother', 'gh_other')).toBe(false);
  });
});

describe('state and return URL', () => {
  it('a state verifies until it expires, and not with another key', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const deps = { keys, clock } as unknown as Deps;
    const state = await signState(deps, { tenantId: 'tnt_1', linkId: 'aul_1', returnUrl: null });
    expect(await verifyState(deps, state)).toEqual({ tenantId: 'tnt_1', linkId: 'aul_1', returnUrl: null });
    const other = { keys: { ...keys, oauthState: Buffer.alloc(32, 9) }, clock } as unknown as Deps;
    expect(await verifyState(other, state)).toBeNull();
    clock.advance(3601_000);
    expect(await verifyState(deps, state)).toBeNull();
    expect(await verifyState(deps, 'not-a-jwt')).toBeNull();
  });
  it('appends appid and status to the return URL, keeping its query', () => {
    expect(returnUrlWith('https://v.example/a?x=1#h', 'wx1')).toBe(
      'https://v.example/a?x=1&appid=wx1&status=authorized#h',
    );
  });
});
