import type { PageRequest } from '../api/pagination.js';
import type { RequestContext } from '../deps.js';
import { requireOwned } from './gate.js';

/*
 * One conversation, both directions, newest first: inbound messages are the pushes (non-event MsgTypes) the
 * tenant received, outbound ones the reply API's sends. Both id kinds are `<prefix>_<time-sortable part>`,
 * so the merge orders on the part after the prefix, and the cursor (the last id of a page) bounds each table
 * by that part with the table's own prefix, which keeps each side on its (appid, openid, id) index.
 */
const HISTORY = `
select * from (
(select id, 'inbound' as direction, msg_type as type, received_at as created_at, msg_id, create_time, raw,
        null::jsonb as body, null::text as status, null::timestamptz as sent_at,
        null::int as wechat_errcode, null::text as wechat_errmsg
   from pushes
  where appid = $1 and openid = $2 and tenant_id = $3 and msg_type <> 'event'
    and ($4::text is null or id < 'psh_' || $4::text)
  order by id desc limit $5)
union all
(select id, 'outbound', type, created_at, null, null, null, body, status, sent_at, wechat_errcode, wechat_errmsg
   from outbound_messages
  where appid = $1 and openid = $2 and tenant_id = $3
    and ($4::text is null or id < 'msg_' || $4::text)
  order by id desc limit $5)
) merged
order by substr(id, 5) desc, id desc limit $5`;

interface HistoryRow {
  id: string;
  direction: 'inbound' | 'outbound';
  type: string;
  created_at: Date;
  msg_id: string | null;
  create_time: number | null;
  raw: Record<string, string> | null;
  body: Record<string, unknown> | null;
  status: string | null;
  sent_at: Date | null;
  wechat_errcode: number | null;
  wechat_errmsg: string | null;
}

export type HistoryItem = {
  id: string;
  direction: 'inbound' | 'outbound';
  type: string;
  openid: string;
  createdAt: string;
} & Record<string, unknown>;

/** The same content fields as the message.received webhook (http-api.md §6). */
function inboundContent(type: string, raw: Record<string, string>): Record<string, unknown> {
  if (type === 'text') return { text: { content: raw.Content ?? '' } };
  if (type === 'image') return { image: { picUrl: raw.PicUrl ?? null, mediaId: raw.MediaId ?? null } };
  if (type === 'miniprogrampage') {
    return {
      miniprogrampage: {
        title: raw.Title ?? null,
        appid: raw.AppId ?? null,
        pagePath: raw.PagePath ?? null,
        thumbUrl: raw.ThumbUrl ?? null,
        thumbMediaId: raw.ThumbMediaId ?? null,
      },
    };
  }
  return {};
}

function render(row: HistoryRow, openid: string): HistoryItem {
  const base = {
    id: row.id,
    direction: row.direction,
    type: row.type,
    openid,
    createdAt: row.created_at.toISOString(),
  };
  if (row.direction === 'inbound') {
    const raw = row.raw ?? {};
    return {
      ...base,
      msgId: row.msg_id,
      createTime: row.create_time === null ? null : new Date(row.create_time * 1000).toISOString(),
      ...inboundContent(row.type, raw),
      raw,
    };
  }
  return {
    ...base,
    status: row.status,
    sentAt: row.sent_at?.toISOString() ?? null,
    ...(row.wechat_errcode === null ? {} : { wechatErrcode: row.wechat_errcode }),
    ...(row.wechat_errmsg === null ? {} : { wechatErrmsg: row.wechat_errmsg }),
    ...(row.body ?? {}),
  };
}

export async function listConversationMessages(
  ctx: RequestContext,
  appid: string,
  openid: string,
  page: PageRequest,
): Promise<{ rows: Array<{ id: string; item: HistoryItem }> }> {
  const q = ctx.deps.db.query;
  await requireOwned(q, ctx.tenantId, appid);
  const bound = page.before ? page.before.slice(4) : null;
  const rows = await q<HistoryRow>(HISTORY, [appid, openid, ctx.tenantId, bound, page.limit + 1]);
  return { rows: rows.map((r) => ({ id: r.id, item: render(r, openid) })) };
}
