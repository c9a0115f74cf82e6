import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration, parseWindowSpec } from '../../src/config.js';
import { testConfig } from '../helpers/app.js';

describe('parseDuration', () => {
  it('reads every unit', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('5d')).toBe(432_000_000);
  });
  it.each(['', '5', 's', '1.5s', '-1s', '5w', '5 s s', '366d', '100000000000d'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow();
  });
  it('takes up to a year', () => {
    expect(parseDuration('365d')).toBe(365 * 86_400_000);
  });
});

describe('parseWindowSpec', () => {
  it('reads count and whole seconds', () => {
    expect(parseWindowSpec('1/60s')).toEqual({ count: 1, seconds: 60 });
    expect(parseWindowSpec('5/48h')).toEqual({ count: 5, seconds: 172_800 });
  });
  it.each(['0/60s', '1/500ms', '1', '/60s', 'a/60s'])('refuses %j', (text) => {
    expect(() => parseWindowSpec(text)).toThrow();
  });
  it('says what is wrong with the window length', () => {
    expect(() => parseWindowSpec('1/0s')).toThrow('at least 1s');
    expect(() => parseWindowSpec('1/1500ms')).toThrow('whole seconds');
  });
});

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = testConfig({ PUBLIC_BASE_URL: undefined, PORT: '4100' });
    expect(c.publicBaseUrl).toBe('http://localhost:4100');
    expect(c.deliveryRetryScheduleMs).toEqual([5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
    expect(c.sendWindow).toEqual({
      enterSession: { count: 1, seconds: 60 },
      userMessage: { count: 5, seconds: 172_800 },
      enforce: true,
    });
    expect(c.endpointDisableAfterMs).toBe(5 * 86_400_000);
    expect(c.wechat.apiBaseUrl).toBe('https://api.weixin.qq.com');
    expect(c.shutdownTimeoutMs).toBe(10_000);
    expect(c.deliveryTimeoutMs).toBe(15_000);
    expect(c.webhookAllowPrivateNetworks).toBe(true);
  });

  it('names every problem at once and never echoes a value', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        WECHAT_COMPONENT_APPSECRET: 's',
        WECHAT_COMPONENT_TOKEN: 't',
        WECHAT_COMPONENT_AES_KEY: 'too-short-secret-value',
        ADMIN_TOKEN: 'short-admin-secret',
        MASTER_KEY: 'bm90IDMyIGJ5dGVz',
        DELIVERY_RETRY_SCHEDULE: '5s,soon',
        SEND_WINDOW_ENTER_SESSION: 'one/minute',
        PORT: 'eighty',
        HOST: 'not_a_host',
        ENDPOINT_DISABLE_AFTER: '100000000000d',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.message;
    for (const name of [
      'WECHAT_COMPONENT_APPID is required',
      'WECHAT_COMPONENT_AES_KEY',
      'ADMIN_TOKEN',
      'MASTER_KEY',
      'DELIVERY_RETRY_SCHEDULE',
      'SEND_WINDOW_ENTER_SESSION',
      'PORT',
      'HOST',
      'ENDPOINT_DISABLE_AFTER',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).not.toContain('too-short-secret-value');
    expect(text).not.toContain('short-admin-secret');
  });

  it('takes IP addresses and host names as HOST', () => {
    for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'kefu-1.internal.example.com']) {
      expect(testConfig({ HOST: host }).host).toBe(host);
    }
  });

  it('refuses RUN_API and RUN_WORKERS both false (a process with nothing to do)', () => {
    expect(() => testConfig({ RUN_API: 'false', RUN_WORKERS: 'false' })).toThrow(/both false/);
    expect(testConfig({ RUN_API: 'false' }).runWorkers).toBe(true);
  });

  it('treats empty variables as unset', () => {
    expect(testConfig({ LOG_LEVEL: '' }).logLevel).toBe('info');
  });
});
