import { buildXml } from '../wechat/xml.js';
import type { SimContext } from './context.js';
import { newTicket } from './ids.js';
import { componentEventUrl } from './options.js';
import type { PushRecord, Ticket } from './state.js';
import { WxError } from './wx-error.js';

const TICKET_TTL_MS = 12 * 3600 * 1000;

/**
 * Pushes `component_verify_ticket`. WeChat sometimes sends the previous value again (with a new CreateTime);
 * `repeat` forces either way, else `ticketRepeatProbability` decides.
 */
export function pushTicket(
  ctx: SimContext,
  opts: { repeat?: boolean } = {},
): { ticket: Ticket; record: PushRecord; settled: Promise<PushRecord> } {
  const now = ctx.clock.now();
  const last = ctx.state.tickets.at(-1);
  const repeat = last !== undefined && (opts.repeat ?? Math.random() < ctx.config.ticketRepeatProbability);
  let ticket: Ticket;
  if (repeat && last) {
    last.lastPushedAt = now;
    ticket = last;
  } else {
    ticket = { value: newTicket(), firstPushedAt: now, lastPushedAt: now };
    ctx.state.tickets.push(ticket);
  }
  const plaintext = buildXml({
    AppId: ctx.config.componentAppid,
    CreateTime: Math.floor(now / 1000),
    InfoType: 'component_verify_ticket',
    ComponentVerifyTicket: ticket.value,
  });
  const pushed = ctx.pushes.send({
    kind: 'component',
    type: 'component_verify_ticket',
    appid: ctx.config.componentAppid,
    openid: null,
    url: componentEventUrl(ctx.config),
    plaintext,
  });
  return { ticket, ...pushed };
}

/** A ticket is valid 12 h from its latest push (the CreateTime the platform stores); unknown → 61006. */
export function checkTicket(ctx: SimContext, value: string | undefined): void {
  const ticket = value ? ctx.state.tickets.find((t) => t.value === value) : undefined;
  if (!ticket) throw new WxError(61006);
  if (ctx.clock.now() - ticket.lastPushedAt > TICKET_TTL_MS) throw new WxError(61005);
}
