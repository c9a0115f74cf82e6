import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the sandbox generates once and keeps in DATA_DIR/sandbox.json, so a restart finds the same credentials
 * (MASTER_KEY must not change: it decrypts the stored tokens) and the same demo tenant and key.
 * This file holds secrets in clear: it is a local development sandbox, never a production deployment.
 */
export interface SandboxState {
  componentAppid: string;
  componentAppsecret: string;
  componentToken: string;
  componentAesKey: string;
  adminToken: string;
  masterKey: string;
  tenantId?: string;
  apiKey?: string;
  echoBotEndpointId?: string;
  echoBotSecret?: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';
const pick = (alphabet: string, n: number) =>
  [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');

export function loadSandboxState(dataDir: string): { state: SandboxState; save(): void; fresh: boolean } {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'sandbox.json');
  const fresh = !existsSync(file);
  const state: SandboxState = fresh
    ? {
        componentAppid: `wx${pick(HEX, 16)}`,
        componentAppsecret: pick(HEX, 32),
        componentToken: pick(ALNUM, 24),
        componentAesKey: pick(ALNUM, 43),
        adminToken: randomBytes(32).toString('hex'),
        masterKey: randomBytes(32).toString('base64'),
      }
    : (JSON.parse(readFileSync(file, 'utf8')) as SandboxState);
  const save = () => writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  if (fresh) save();
  return { state, save, fresh };
}
