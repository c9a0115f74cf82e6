import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proc.js';

/**
 * Which kefu-relay is measured. By default this checkout as it is (`npm start` would run the same); with
 * BENCH_SOURCE=<commit-ish> (e.g. HEAD) an exported snapshot of that commit, so that uncommitted edits in a
 * shared checkout cannot change the figures mid-run. The snapshot borrows this checkout's node_modules.
 */
export function prepareSource(
  ref: string | undefined,
  dir: string,
): { root: string; label: string; entry: string } {
  const status = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  if (!ref) {
    const dirty = status(['status', '--porcelain', '--', 'src', 'drizzle']) !== '';
    return {
      root: ROOT,
      label: `working tree at ${status(['rev-parse', '--short', 'HEAD'])}${dirty ? ' (uncommitted changes in src/)' : ''}`,
      entry: build(ROOT),
    };
  }
  const commit = status(['rev-parse', '--short', ref]);
  const root = join(dir, `source-${commit}`);
  mkdirSync(root, { recursive: true });
  const files = ['src', 'drizzle', 'package.json', 'tsconfig.json'];
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}:tsconfig.build.json`], { cwd: ROOT, stdio: 'ignore' });
    files.push('tsconfig.build.json');
  } catch {
    // a commit from before the build step: it runs through tsx
  }
  execFileSync('sh', ['-c', `git archive ${commit} ${files.join(' ')} | tar -x -C '${root}'`], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return { root, label: `commit ${commit}`, entry: build(root) };
}

/** What `npm start` runs there: `npm run build` first where the tree has a build, then dist/main.js. */
function build(root: string): string {
  if (!existsSync(join(root, 'tsconfig.build.json'))) return 'src/main.ts';
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  return 'dist/main.js';
}
