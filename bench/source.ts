import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proc.js';

/**
 * Which kefu-relay is measured. By default this checkout as it is (`npm start` would run the same); with
 * BENCH_SOURCE=<commit-ish> (e.g. HEAD) an exported snapshot of that commit, so that uncommitted edits in a
 * shared checkout cannot change the figures mid-run. The snapshot borrows this checkout's node_modules.
 */
export function prepareSource(ref: string | undefined, dir: string): { root: string; label: string } {
  const status = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  if (!ref) {
    const dirty = status(['status', '--porcelain', '--', 'src', 'drizzle']) !== '';
    return {
      root: ROOT,
      label: `working tree at ${status(['rev-parse', '--short', 'HEAD'])}${dirty ? ' (uncommitted changes in src/)' : ''}`,
    };
  }
  const commit = status(['rev-parse', '--short', ref]);
  const root = join(dir, `source-${commit}`);
  mkdirSync(root, { recursive: true });
  execFileSync(
    'sh',
    ['-c', `git archive ${commit} src drizzle package.json tsconfig.json | tar -x -C '${root}'`],
    {
      cwd: ROOT,
    },
  );
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return { root, label: `commit ${commit}` };
}
