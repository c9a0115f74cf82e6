import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, retryThroughOutage } from '../../../src/db/errors.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['ECONNREFUSED'],
    ['CONNECTION_CLOSED'],
    ['57P01'],
    ['57P03'],
    ['53300'],
    ['3D000'],
    ['28000'],
    ['28P01'],
    ['25006'],
    ['08006'],
  ])('%s is an outage', (code) => {
    expect(isDatabaseUnavailable(pgError(code))).toBe(true);
  });

  it('a database refusing connections (55000 at connect) is an outage; another 55000 is a bug', () => {
    expect(
      isDatabaseUnavailable(pgError('55000', 'database "kefu" is not currently accepting connections')),
    ).toBe(true);
    expect(isDatabaseUnavailable(pgError('55000', 'currval of sequence "s" is not yet defined'))).toBe(false);
  });

  it('query errors are not', () => {
    for (const code of ['23505', '42601', '22P02', '40001'])
      expect(isDatabaseUnavailable(pgError(code))).toBe(false);
  });

  it('looks through causes and aggregate errors', () => {
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: pgError('08006') }))).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([new Error('a'), pgError('ECONNRESET')]))).toBe(true);
  });
});

describe('retryThroughOutage', () => {
  it('tries again while the database is unavailable, then gives up with the last error', async () => {
    const tries: number[] = [];
    const flaky = async (attempt: number) => {
      tries.push(attempt);
      if (attempt < 2) throw pgError('CONNECTION_CLOSED');
      return 'done';
    };
    expect(await retryThroughOutage(flaky, [1, 1, 1])).toBe('done');
    expect(tries).toEqual([0, 1, 2]);
    await expect(retryThroughOutage(() => Promise.reject(pgError('08006')), [1, 1])).rejects.toMatchObject({
      code: '08006',
    });
  });

  it('does not retry any other failure', async () => {
    let n = 0;
    await expect(
      retryThroughOutage(async () => {
        n++;
        throw pgError('23505');
      }, [1, 1]),
    ).rejects.toMatchObject({ code: '23505' });
    expect(n).toBe(1);
  });
});
