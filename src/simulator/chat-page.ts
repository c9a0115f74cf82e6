import type { Hono } from 'hono';
import { CHAT_SCRIPT } from './chat-page-script.js';
import type { SimContext } from './context.js';
import { page } from './html.js';
import { conversationView, pushView } from './views.js';

const CHAT_CSS = `
.layout{display:grid;grid-template-columns:260px minmax(320px,1fr) 360px;gap:12px;padding:12px;height:calc(100vh - 44px)}
.panel{background:#fff;border-radius:8px;padding:12px;overflow:auto}
.panel label{display:block;font-size:12px;color:#888;margin-top:10px}
.panel select,.panel input[type=text]{width:100%;padding:6px;border:1px solid #ddd;border-radius:4px;font:inherit}
.panel .btn{margin-top:8px;width:100%}
.phone{display:flex;flex-direction:column;background:#ededed;border-radius:8px;overflow:hidden;border:1px solid #ddd}
.phone-title{background:#f7f7f7;padding:10px;text-align:center;font-weight:600;border-bottom:1px solid #ddd}
#messages{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:10px}
.msg{display:flex;flex-direction:column;max-width:75%}
.msg.from-user{align-self:flex-end;align-items:flex-end}
.msg.from-tenant{align-self:flex-start;align-items:flex-start}
.msg.system{align-self:center;max-width:90%}
.sys{font-size:12px;color:#999;background:#dadada55;padding:2px 8px;border-radius:4px}
.bubble{padding:8px 11px;border-radius:6px;background:#fff;white-space:pre-wrap;word-break:break-word}
.from-user .bubble{background:#95ec69}
.bubble.card{background:#fff;width:220px}
.card-title{font-weight:600;display:block;margin-bottom:6px;color:#111;text-decoration:none}
.card-foot{font-size:12px;color:#888;border-top:1px solid #eee;margin-top:6px;padding-top:4px}
.photo{max-width:200px;border-radius:4px;display:block}
.thumb{width:100%;border-radius:4px;display:block}
.meta{font-size:11px;color:#aaa;margin-top:2px}
#typing{font-size:12px;color:#888;padding:0 12px 6px}
.composer{display:flex;gap:6px;padding:8px;background:#f7f7f7;border-top:1px solid #ddd}
.composer textarea{flex:1;resize:none;height:38px;padding:8px;border:1px solid #ddd;border-radius:4px;font:inherit}
.tools{display:flex;gap:6px;flex-wrap:wrap;padding:6px 8px;background:#f7f7f7}
.tools input[type=text]{width:120px;padding:4px;border:1px solid #ddd;border-radius:4px}
.tools .btn{padding:4px 10px;font-size:13px}
#window,#status{font-size:12px;padding:4px 12px;color:#888}
#status{color:#fa5151}
.push{border:1px solid #eee;border-radius:6px;padding:6px 8px;margin-bottom:8px;font-size:12px}
.push-head{display:flex;gap:6px;align-items:center}
.badge{border-radius:3px;padding:0 5px;color:#fff;background:#999}
.badge.delivered{background:#07c160}.badge.failed{background:#fa5151}.badge.pending{background:#ffc300;color:#111}
.attempt{color:#fa5151;font-family:ui-monospace,monospace}.attempt.ok{color:#07c160}
pre{white-space:pre-wrap;word-break:break-all;font-size:11px;background:#f7f7f7;padding:4px;margin:4px 0}
@media (max-width:980px){.layout{grid-template-columns:1fr;height:auto}.phone{height:70vh}}
`;

const CHAT_BODY = `<div class="layout">
<section class="panel" id="controls">
  <h1>Simulated WeChat user</h1>
  <label for="mini-program">Mini-program</label><select id="mini-program"></select>
  <div class="muted" id="mp-info"></div>
  <label for="user">User (openid)</label><select id="user"></select>
  <label for="new-user-name">New user</label><input type="text" id="new-user-name" placeholder="nickname (optional)">
  <button class="btn secondary" id="new-user" type="button">Create user</button>
  <label for="session-from">session-from (button attribute)</label><input type="text" id="session-from" placeholder="optional">
  <button class="btn" id="open-session" type="button">Open session 进入客服会话</button>
  <button class="btn secondary" id="refresh" type="button">Refresh list</button>
  <p class="muted">Chat as a user of an authorized mini-program (to authorize one, open a kefu-relay authorization link: it leads to this simulator's page). Replies arrive through <code>custom/send</code>.</p>
</section>
<section class="phone">
  <div class="phone-title" id="chat-title"></div>
  <div id="window"></div>
  <div id="messages" aria-live="polite"></div>
  <div id="typing" hidden>对方正在输入… (typing)</div>
  <div id="status"></div>
  <div class="tools">
    <input type="file" id="image-file" accept="image/png,image/jpeg,image/gif">
    <button class="btn secondary" id="send-image" type="button">Send image</button>
    <input type="text" id="card-title" placeholder="card title">
    <input type="text" id="card-path" placeholder="pages/index/index">
    <button class="btn secondary" id="send-card" type="button">Send card</button>
  </div>
  <div class="composer"><textarea id="message-input" placeholder="Type a message, Enter to send"></textarea>
  <button class="btn" id="send" type="button">Send</button></div>
</section>
<section class="panel"><h1>Pushes to kefu-relay</h1><div id="pushes"></div></section>
</div>`;

/** The chat page (issue 8): a person plays the WeChat user against a running kefu-relay. */
export function registerChatPage(app: Hono, ctx: SimContext): void {
  app.get('/chat', (c) => c.html(page('客服会话 · WeChat simulator', CHAT_BODY, CHAT_CSS, CHAT_SCRIPT)));

  app.get('/sim/chat/state', (c) => {
    const appid = c.req.query('appid') ?? '';
    const openid = c.req.query('openid') ?? '';
    const since = Number(c.req.query('since') ?? 0) || 0;
    const pushes = ctx.state.pushes.filter(
      (p) => p.appid === appid && (p.openid === openid || p.kind === 'component'),
    );
    return c.json({
      conversation: conversationView(ctx, appid, openid, since),
      pushes: pushes.slice(-30).map(pushView),
    });
  });
}
