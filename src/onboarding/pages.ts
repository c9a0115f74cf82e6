// The few HTML pages a tenant's admin sees during authorization. Plain, self-contained, no scripts.

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="origin"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
a#authorize{display:inline-block;padding:.75rem 1.5rem;background:#07c160;color:#fff;border-radius:.5rem;text-decoration:none}</style>
</head><body>${body}</body></html>`;
}

export function landingPage(authorizeUrl: string, mobile: boolean): string {
  return page(
    'Connect your mini-program',
    `<h1>Connect your mini-program</h1>
<p>${mobile ? 'Open this page in WeChat and tap' : 'Click'} the button, then confirm on WeChat's page with the
administrator's WeChat account. Grant 小程序客服管理 (customer service messages).</p>
<p><a id="authorize" href="${escapeHtml(authorizeUrl)}">Authorize on WeChat</a></p>
<p><small>The button is valid for a few minutes; reload this page for a fresh one.</small></p>`,
  );
}

export function connectedPage(nickname: string | null, appid: string): string {
  return page(
    'Mini-program connected',
    `<h1>Connected</h1><p>The mini-program ${escapeHtml(nickname ?? appid)} (<code>${escapeHtml(appid)}</code>) is connected.
You may close this page.</p>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}
