import { createServer } from 'node:http';

// A WeChat API that answers at once, for the reply-API phase: the figure is kefu-relay's own cost per send.
// custom/send and typing succeed; the token APIs hand out a long-lived token should the service refresh.

const calls = new Map<string, number>();
const OK = JSON.stringify({ errcode: 0, errmsg: 'ok' });

function answer(path: string): string {
  if (path === '/cgi-bin/component/api_component_token') {
    return JSON.stringify({ component_access_token: 'bench-component-token', expires_in: 7200 });
  }
  if (path === '/cgi-bin/component/api_authorizer_token') {
    return JSON.stringify({
      authorizer_access_token: 'bench-authorizer-token-refreshed',
      expires_in: 7200,
      authorizer_refresh_token: 'bench-refresh-token',
    });
  }
  return OK;
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method === 'GET' && path === '/stats') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(Object.fromEntries(calls)));
  }
  req.resume();
  req.on('end', () => {
    calls.set(path, (calls.get(path) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(answer(path));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});
