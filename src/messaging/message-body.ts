import { z } from '@hono/zod-openapi';
import { fields } from '../api/validation.js';
import type { CustomSendBody } from '../wechat/client.js';

const httpUrl = fields.httpUrl;

/** WeChat media ids are opaque: forwarded as given, without a local check (http-api.md §4); WeChat judges them. */
const mediaId = z.string();

const text = z.object({ content: z.string().min(1).max(20_000) }).strict();
const image = z.object({ mediaId }).strict();
const link = z
  .object({ title: fields.name, description: fields.description, url: httpUrl, thumbUrl: httpUrl })
  .strict();
const miniprogrampage = z
  .object({ title: fields.name, pagePath: z.string().min(1).max(2048), thumbMediaId: mediaId })
  .strict();

/** Exactly one kind: `type` names it and only that kind's object may be present (strict objects). */
export const SendMessageSchema = z
  .discriminatedUnion('type', [
    z.object({ openid: fields.openid, type: z.literal('text'), text }).strict(),
    z.object({ openid: fields.openid, type: z.literal('image'), image }).strict(),
    z.object({ openid: fields.openid, type: z.literal('link'), link }).strict(),
    z.object({ openid: fields.openid, type: z.literal('miniprogrampage'), miniprogrampage }).strict(),
  ])
  .openapi('SendMessage', {
    example: { openid: 'oUser123', type: 'text', text: { content: 'Hello! How can we help?' } },
  });

export type SendMessageInput = z.infer<typeof SendMessageSchema>;
export type MessageType = SendMessageInput['type'];

/** The content part as the tenant wrote it (`{text:{content}}` …): what outbound_messages.body keeps. */
export function messageContent(input: SendMessageInput): Record<string, unknown> {
  switch (input.type) {
    case 'text':
      return { text: input.text };
    case 'image':
      return { image: input.image };
    case 'link':
      return { link: input.link };
    case 'miniprogrampage':
      return { miniprogrampage: input.miniprogrampage };
  }
}

/** wechat-protocol.md §5.1: the tenant's camelCase fields become WeChat's snake_case ones. */
export function toWeChatBody(input: SendMessageInput): CustomSendBody {
  const touser = input.openid;
  switch (input.type) {
    case 'text':
      return { touser, msgtype: 'text', text: { content: input.text.content } };
    case 'image':
      return { touser, msgtype: 'image', image: { media_id: input.image.mediaId } };
    case 'link': {
      const { title, description, url, thumbUrl } = input.link;
      return { touser, msgtype: 'link', link: { title, description, url, thumb_url: thumbUrl } };
    }
    case 'miniprogrampage': {
      const { title, pagePath, thumbMediaId } = input.miniprogrampage;
      return {
        touser,
        msgtype: 'miniprogrampage',
        miniprogrampage: { title, pagepath: pagePath, thumb_media_id: thumbMediaId },
      };
    }
  }
}
