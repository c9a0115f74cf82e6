import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, secretKey, signatureHeader } from '../../../src/delivery/signing.js';

describe('signing', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretKey(a)).toHaveLength(32);
    expect(generateSecret()).not.toBe(a);
  });

  it('signs as Standard Webhooks verifies, one signature per key', () => {
    const current = generateSecret();
    const previous = generateSecret();
    const body = JSON.stringify({ id: 'evt_1', type: 'wechat.event', data: { a: '中文' } });
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader([secretKey(current), secretKey(previous)], 'evt_1', ts, body);
    expect(header.split(' ')).toHaveLength(2);
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': header };
    expect(new Webhook(current).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
    expect(new Webhook(current).sign('evt_1', new Date(ts * 1000), body)).toBe(header.split(' ')[0]);
  });
});
