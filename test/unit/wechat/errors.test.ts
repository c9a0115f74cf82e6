import { describe, expect, it } from 'vitest';
import {
  BUSY_ERRCODES,
  describeErrcode,
  ERRMSG,
  parseRid,
  TOKEN_ERRCODES,
  WeChatApiError,
  WeChatUnavailableError,
} from '../../../src/wechat/errors.js';

// wechat-protocol.md §6 and http-api.md §5, row by row: errcode → class, product code, HTTP status.
const EXPECTED: [number[], string, string, number][] = [
  [[-1, -1000], 'B', 'wechat_unavailable', 503],
  [[40001, 40014, 42001], 'R', 'wechat_error', 502],
  [[40003], 'P', 'invalid_openid', 422],
  [[40004, 40006, 45001], 'P', 'wechat_error', 502],
  [[40007], 'P', 'invalid_media_id', 422],
  [[40013, 40125, 41004, 61011], 'O', 'wechat_error', 502],
  [[45002, 47001], 'P', 'wechat_error', 502],
  [[45009, 45011], 'Q', 'wechat_quota_exceeded', 429],
  [[45015], 'W', 'send_window_closed', 409],
  [[45047], 'W', 'send_limit_reached', 429],
  [[45072, 45080, 45081], 'P', 'wechat_error', 502],
  [[48001, 61007], 'A', 'permission_missing', 403],
  [[61003, 61023], 'A', 'mini_program_unauthorized', 409],
  [[61004, 61005, 61006], 'O', 'wechat_error', 502],
  [[61009, 61010], 'A', 'wechat_error', 502],
];

describe('describeErrcode', () => {
  for (const [codes, cls, product, status] of EXPECTED) {
    it(`${codes.join('/')} → ${cls} ${product} ${status}`, () => {
      for (const errcode of codes) {
        expect(describeErrcode(errcode)).toMatchObject({ errcode, class: cls, product, status });
        expect(describeErrcode(errcode).meaning).not.toBe('');
      }
    });
  }

  it('45011 asks to wait a minute; nothing else carries Retry-After', () => {
    expect(describeErrcode(45011).retryAfterSeconds).toBe(60);
    expect(describeErrcode(45009).retryAfterSeconds).toBeUndefined();
  });

  it('an unknown errcode is permanent wechat_error 502', () => {
    expect(describeErrcode(99999)).toEqual({
      errcode: 99999,
      meaning: 'unknown errcode',
      class: 'P',
      product: 'wechat_error',
      status: 502,
    });
    expect(describeErrcode(40101)).toMatchObject({
      class: 'P',
      product: 'wechat_error',
      meaning: 'missing parameter',
    });
  });

  it('token and busy sets', () => {
    expect([...TOKEN_ERRCODES].sort()).toEqual([40001, 40014, 42001]);
    expect([...BUSY_ERRCODES].sort()).toEqual([-1, -1000]);
  });

  it('every tabled errcode has a WeChat errmsg for the simulator', () => {
    for (const [codes] of EXPECTED) for (const code of codes) expect(ERRMSG[code], String(code)).toBeTruthy();
    expect(ERRMSG[40001]).toBe('invalid credential, access_token is invalid or not latest');
    expect(ERRMSG[45011]).toBe('api minute-quota reach limit  mustslower  retry next minute');
  });
});

describe('error classes', () => {
  it('WeChatApiError parses the rid and describes itself', () => {
    const err = new WeChatApiError(
      'cgi-bin/message/custom/send',
      45015,
      `${ERRMSG[45015]} rid: 6625f5d2-3b1a7c44-0f1e2d3c`,
    );
    expect(err.rid).toBe('6625f5d2-3b1a7c44-0f1e2d3c');
    expect(err.info.product).toBe('send_window_closed');
    expect(err.message).toContain('45015');
    expect(new WeChatApiError('x', 1, 'no rid here').rid).toBeNull();
    expect(new WeChatApiError('x', 1, 'rid: a-b-c', 'given').rid).toBe('given');
  });

  it('parseRid finds the rid wherever WeChat puts it', () => {
    expect(parseRid('invalid openid rid: 66260e1f-0a6c55f5-3f4e0b3a')).toBe('66260e1f-0a6c55f5-3f4e0b3a');
    expect(parseRid('access clientip is not registered requestIP: 1.2.3.4 rid: 1-2-3')).toBe('1-2-3');
    expect(parseRid('hint: [abc]')).toBeNull();
  });

  it('WeChatUnavailableError carries reason, sent and the busy errcode', () => {
    const err = new WeChatUnavailableError({
      api: 'a',
      reason: 'busy',
      sent: false,
      errcode: -1,
      errmsg: 'system error',
    });
    expect(err).toMatchObject({ api: 'a', reason: 'busy', sent: false, errcode: -1, errmsg: 'system error' });
    expect(err.message).toBe('a: wechat unavailable (busy): errcode -1');
    const cause = new Error('ECONNRESET');
    expect(new WeChatUnavailableError({ api: 'a', reason: 'network', sent: true, cause }).cause).toBe(cause);
  });
});
