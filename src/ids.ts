import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32: sorts like the values

export type IdPrefix = 'tnt' | 'key' | 'aul' | 'evt' | 'dlv' | 'wep' | 'msg' | 'psh' | 'att' | 'cev';

let lastTime = -1;
const lastRandom: number[] = new Array(16).fill(0);

/**
 * A public id: `<prefix>_` + 26 chars (48-bit millisecond time + 80 random bits), so ids sort by creation time
 * and lists page on the id alone. Within one millisecond (or a clock that stands still in tests) ids from this
 * process keep increasing, so "newest first" stays exact.
 */
export function newId(prefix: IdPrefix, at: number = Date.now()): string {
  let time = Math.max(at, lastTime);
  if (time === lastTime) {
    let i = 15;
    while (i >= 0 && lastRandom[i] === 31) lastRandom[i--] = 0;
    if (i < 0) {
      time += 1; // 80 bits exhausted within one millisecond: borrow the next one
    } else {
      lastRandom[i] = (lastRandom[i] as number) + 1;
    }
  } else {
    const rand = randomBytes(16);
    // the top bit stays clear so there is room to increment within the millisecond
    for (let i = 0; i < 16; i++) lastRandom[i] = (rand[i] as number) % (i === 0 ? 16 : 32);
  }
  lastTime = time;
  let head = '';
  for (let i = 0, t = time; i < 10; i++) {
    head = ALPHABET[t % 32] + head;
    t = Math.floor(t / 32);
  }
  return `${prefix}_${head}${lastRandom.map((d) => ALPHABET[d]).join('')}`;
}

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);
}
