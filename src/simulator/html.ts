const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);

/** Shared look of the simulator's pages: self-contained, no CDN, works offline. */
export const BASE_CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,"PingFang SC","Microsoft YaHei","Segoe UI",sans-serif;background:#ededed;color:#111}
header{background:#2e2e2e;color:#fff;padding:10px 16px;display:flex;align-items:center;gap:10px}
header .logo{width:22px;height:22px;border-radius:50%;background:#07c160;display:inline-block}
header small{color:#aaa}
.card{background:#fff;border-radius:8px;padding:16px;margin:16px auto;max-width:640px}
h1{font-size:18px;margin:0 0 12px}
h2{font-size:15px;margin:16px 0 8px}
.muted{color:#888;font-size:12px}
.btn{display:inline-block;border:0;border-radius:4px;background:#07c160;color:#fff;padding:9px 22px;font-size:15px;cursor:pointer}
.btn:disabled{background:#9ed9b8;cursor:default}
.btn.secondary{background:#f2f2f2;color:#07c160}
.error{color:#fa5151}
label.row{display:flex;gap:10px;align-items:center;padding:8px;border-radius:6px;cursor:pointer}
label.row:hover{background:#f7f7f7}
.avatar{width:36px;height:36px;border-radius:6px;background:#07c160;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:600;flex:none}
code{background:#f2f2f2;padding:1px 4px;border-radius:3px;font-size:12px}
`;

export function page(title: string, body: string, extraCss = '', script = ''): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${BASE_CSS}${extraCss}</style></head>
<body><header><span class="logo"></span><b>${escapeHtml(title)}</b><small>kefu-relay WeChat simulator</small></header>
${body}${script ? `<script>${script}</script>` : ''}</body></html>`;
}
