import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
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
): { root: string; label: string; entry: string; nodeArgs: string[] } {
  const status = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  if (!ref) {
    const dirty = status(['status', '--porcelain', '--', 'src', 'drizzle']) !== '';
    return {
      root: ROOT,
      label: `working tree at ${status(['rev-parse', '--short', 'HEAD'])}${dirty ? ' (uncommitted changes in src/)' : ''}`,
      ...build(ROOT),
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
  return { root, label: `commit ${commit}`, ...build(root) };
}

/**
 * What `npm start` runs there: `npm run build` first where the tree has a build, then the start script's
 * entry with the node flags it names (e.g. the heap limit).
 */
function build(root: string): { entry: string; nodeArgs: string[] } {
  if (!existsSync(join(root, 'tsconfig.build.json'))) return { entry: 'src/main.ts', nodeArgs: [] };
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    { cwd: root, stdio: 'inherit' },
  );
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.trim().split(/\s+/);
  const entry = words.at(-1);
  if (words[0] !== 'node' || !entry?.endsWith('.js'))
    throw new Error(`bench: cannot read the entry of the start script "${pkg.scripts.start}"`);
  return { entry, nodeArgs: words.slice(1, -1) };
}
