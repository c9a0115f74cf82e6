import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
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
      ...startCommand(ROOT),
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
  return { root, label: `commit ${commit}`, ...startCommand(root) };
}

/**
 * What `npm start` runs there: the start script's entry and the node flags it names (e.g. the heap limit);
 * startChild adds tsx's loader for a TypeScript entry itself.
 */
function startCommand(root: string): { entry: string; nodeArgs: string[] } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.trim().split(/\s+/);
  // `exec node …`: the shell npm runs the script in becomes node, so signals reach it
  if (words[0] === 'exec') words.shift();
  const entry = words.at(-1);
  if (words[0] !== 'node' || !entry || !/\.[jt]s$/.test(entry))
    throw new Error(`bench: cannot read the entry of the start script "${pkg.scripts.start}"`);
  const flags = words.slice(1, -1);
  const nodeArgs: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === '--import' && flags[i + 1] === 'tsx') i++;
    else nodeArgs.push(flags[i] as string);
  }
  return { entry, nodeArgs };
}
