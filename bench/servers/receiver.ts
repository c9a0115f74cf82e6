import { createServer } from 'node:http';

// The tenant's webhook receiver: answers 200 at once and notes when each event arrived, keyed by the push's
// MsgId, whose first two digits name the benchmark phase that sent it (see bench/pushes.ts).

interface TagStats {
  count: number;
  firstAt: number;
  lastAt: number;
  arrivals: Map<string, number>;
}

const tags = new Map<string, TagStats>();
let total = 0;
let unparsed = 0;

function record(msgId: string, at: number): void {
  const tag = msgId.slice(0, 2);
  let s = tags.get(tag);
  if (!s) {
    s = { count: 0, firstAt: at, lastAt: at, arrivals: new Map() };
    tags.set(tag, s);
  }
  s.count++;
  s.lastAt = at;
  if (!s.arrivals.has(msgId)) s.arrivals.set(msgId, at);
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/arrivals') {
      const s = tags.get(url.searchParams.get('tag') ?? '');
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify(s ? Object.fromEntries(s.arrivals) : {}));
    }
    const byTag: Record<string, { count: number; distinct: number; firstAt: number; lastAt: number }> = {};
    for (const [tag, s] of tags) {
      byTag[tag] = { count: s.count, distinct: s.arrivals.size, firstAt: s.firstAt, lastAt: s.lastAt };
    }
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify({ total, unparsed, byTag }));
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = performance.timeOrigin + performance.now();
    total++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    try {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { msgId?: unknown } };
      const msgId = event.data?.msgId;
      if (typeof msgId === 'string') record(msgId, at);
      else unparsed++;
    } catch {
      unparsed++;
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});
