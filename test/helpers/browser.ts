import { existsSync } from 'node:fs';

// The browser tests drive Debian's chromium (playwright-core brings no browser). Where it is not installed they
// are skipped, so `npm test` passes on a laptop without it; CI sets REQUIRE_BROWSER=1 (and installs it), so
// there a missing browser fails the run instead of hiding the tests.

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const required = ['1', 'true', 'yes'].includes(process.env.REQUIRE_BROWSER ?? '');
if (required && !existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing and REQUIRE_BROWSER is set: apt-get install chromium`);
}

/** true when the browser tests cannot run here (and need not: REQUIRE_BROWSER is unset) */
export const noBrowser = !existsSync(CHROMIUM);
