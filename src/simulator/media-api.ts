import type { Hono } from 'hono';
import { apiRoute } from './api-route.js';
import type { SimContext } from './context.js';
import { samplePng } from './images.js';
import type { Media } from './state.js';
import { requireCustomerServiceToken } from './tokens.js';
import { storeMedia } from './user-actions.js';
import { WxError } from './wx-error.js';

/** wechat-protocol.md §11 decision 8: 2 MiB for images. */
export const IMAGE_MAX_BYTES = 2 * 1024 * 1024;

function liveMedia(ctx: SimContext, mediaId: string | undefined): Media | null {
  const media = mediaId ? ctx.state.media.get(mediaId) : undefined;
  if (!media) return null;
  return ctx.clock.now() >= media.createdAt + ctx.config.mediaTtlSeconds * 1000 ? null : media;
}

function fileResponse(media: Media): Response {
  return new Response(new Uint8Array(media.bytes), {
    status: 200,
    headers: {
      'content-type': media.contentType,
      'content-disposition': `attachment; filename="${media.filename.replace(/"/g, '')}"`,
      'content-length': String(media.bytes.length),
      'cache-control': 'no-cache, must-revalidate',
    },
  });
}

/** 临时素材: upload (multipart field `media`, images only) and download (§5.3). */
export function registerMediaApi(app: Hono, ctx: SimContext): void {
  app.post(
    '/cgi-bin/media/upload',
    apiRoute(ctx, 'media_upload', async (c, call) => {
      const { appid } = requireCustomerServiceToken(ctx, c, call);
      if (c.req.query('type') !== 'image') throw new WxError(40004);
      let form: Record<string, unknown>;
      try {
        form = await c.req.parseBody();
      } catch {
        throw new WxError(41005);
      }
      const file = form.media;
      if (!(file instanceof File)) throw new WxError(41005);
      if (file.size === 0) throw new WxError(40006);
      if (file.size > IMAGE_MAX_BYTES) throw new WxError(45001);
      const media = storeMedia(
        ctx,
        appid,
        Buffer.from(await file.arrayBuffer()),
        'upload',
        file.name || undefined,
      );
      if (!media) throw new WxError(40004);
      return { type: 'image', media_id: media.mediaId, created_at: Math.floor(media.createdAt / 1000) };
    }),
  );

  app.get(
    '/cgi-bin/media/get',
    apiRoute(ctx, 'media_get', async (c, call) => {
      const { appid } = requireCustomerServiceToken(ctx, c, call);
      const media = liveMedia(ctx, c.req.query('media_id'));
      if (!media || media.appid !== appid) throw new WxError(40007);
      return fileResponse(media);
    }),
  );

  // What PicUrl/ThumbUrl point at (WeChat's CDN, here without a token) and what the chat page shows.
  app.get('/sim/media/:mediaId', (c) => {
    const media = ctx.state.media.get(c.req.param('mediaId'));
    if (!media) return c.json({ error: 'unknown media' }, 404);
    return fileResponse(media);
  });

  app.get('/sim/samples/image.png', (c) => {
    const hex = /^[0-9a-f]{6}$/i.test(c.req.query('color') ?? '')
      ? (c.req.query('color') as string)
      : '07c160';
    const rgb: [number, number, number] = [0, 2, 4].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [
      number,
      number,
      number,
    ];
    return c.body(new Uint8Array(samplePng(64, 64, rgb)), 200, { 'content-type': 'image/png' });
  });
}
