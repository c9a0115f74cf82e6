import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** The socket's peer (WeChat, or a load balancer whose x-forwarded-for goes first), for the push log lines. */
export function remoteIp(c: Context): string | undefined {
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress;
  const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded ? `${forwarded} via ${socket ?? 'unknown'}` : socket;
}
