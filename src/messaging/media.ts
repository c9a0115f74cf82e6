import type { RequestContext } from '../deps.js';
import { AppError } from '../errors.js';
import { withAuthorizerToken } from '../onboarding/authorizer-tokens.js';
import { requireSendable } from './gate.js';
import { wechatFailure } from './wechat-failure.js';

/** wechat-protocol.md §5.3 and §11 decision 8. */
export const MEDIA_MAX_BYTES = 2 * 1024 * 1024;
/** WeChat keeps temporary media for 3 days. */
export const MEDIA_TTL_MS = 3 * 24 * 60 * 60 * 1000;

export type ImageKind = 'jpeg' | 'png' | 'gif';

const CONTENT_TYPES: Record<ImageKind, string> = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif' };

/** The image kind from its magic bytes: the declared content type and file name are the client's claim. */
export function sniffImage(head: Uint8Array): ImageKind | null {
  const b = (i: number) => head[i];
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((v, i) => b(i) === v)) return 'png';
  const ascii = Buffer.from(head.subarray(0, 6)).toString('latin1');
  if (ascii === 'GIF87a' || ascii === 'GIF89a') return 'gif';
  return null;
}

export interface UploadedMedia {
  mediaId: string;
  type: 'image';
  createdAt: string;
  expiresAt: string;
}

/** Checks type and size before anything leaves, then streams the file to media/upload (field `media`). */
export async function uploadImage(
  ctx: RequestContext,
  appid: string,
  file: Blob & { name?: string },
): Promise<UploadedMedia> {
  const { deps } = ctx;
  // another tenant's or an unknown appid is 404 whatever the file (http-api.md §4: never a hint it exists)
  await requireSendable(deps.db.query, ctx.tenantId, appid);
  if (file.size > MEDIA_MAX_BYTES) {
    throw new AppError(
      'payload_too_large',
      `The image is ${file.size} bytes; the limit is ${MEDIA_MAX_BYTES} (2 MiB)`,
    );
  }
  const kind = sniffImage(new Uint8Array(await file.slice(0, 8).arrayBuffer()));
  if (!kind) {
    throw new AppError('validation_failed', 'The file is not a JPEG, PNG or GIF image', {
      errors: [{ path: 'file', message: 'must be a JPEG, PNG or GIF image (checked by its content)' }],
    });
  }
  const filename = `upload.${kind === 'jpeg' ? 'jpg' : kind}`;
  let uploaded: { mediaId: string; createdAt: Date };
  try {
    // A retry after a token refresh needs the bytes again, so each attempt opens its own stream of the file.
    uploaded = await withAuthorizerToken(deps, appid, (token) =>
      deps.wechat.uploadMedia(token, {
        filename,
        contentType: CONTENT_TYPES[kind],
        data: file.stream() as unknown as AsyncIterable<Uint8Array>,
        size: file.size,
      }),
    );
  } catch (err) {
    throw wechatFailure(err) ?? err;
  }
  return {
    mediaId: uploaded.mediaId,
    type: 'image',
    createdAt: uploaded.createdAt.toISOString(),
    expiresAt: new Date(uploaded.createdAt.getTime() + MEDIA_TTL_MS).toISOString(),
  };
}
