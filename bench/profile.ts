import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Summarises a V8 .cpuprofile (node --cpu-prof) by self time, so the report can say where the time went.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  fn: string;
  where: string;
  selfPct: number;
}

/** Which package or source folder a frame belongs to, to see where time goes at a glance. */
function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  const src = /\/(src\/[^/]+)/.exec(url);
  if (src) return src[1] ?? url;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
}

export function summariseProfile(
  file: string,
  top = 25,
): { hot: HotSpot[]; areas: { area: string; selfPct: number }[]; seconds: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    total += hits;
    const area = areaOf(n.callFrame.url, n.callFrame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + hits);
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'node_modules/');
    const key = `${n.callFrame.functionName || '(anonymous)'}\t${url.split('/work/main/').pop()}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const hot = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, hits]) => {
      const [fn, where] = key.split('\t');
      return { fn: fn ?? '', where: where ?? '', selfPct: (100 * hits) / Math.max(1, total) };
    });
  const byArea = [...areas.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([area, hits]) => ({ area, selfPct: (100 * hits) / Math.max(1, total) }));
  return { hot, areas: byArea, seconds: (p.endTime - p.startTime) / 1e6 };
}

/** The largest profile in `dir` (the server, not the tsx wrapper that only waits for it). */
export function largestProfile(dir: string): string | null {
  try {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
    files.sort((a, b) => readFileSync(b).length - readFileSync(a).length);
    return files[0] ?? null;
  } catch {
    return null;
  }
}
