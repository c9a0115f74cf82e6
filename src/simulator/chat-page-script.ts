// The chat page's browser code: plain ES2017, no framework, no template literals (this file is a TS string).
export const CHAT_SCRIPT = String.raw`
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var state = { appid: '', openid: '', lastSeq: 0, signature: '' };

  function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.detail || data.errmsg || ('HTTP ' + res.status));
        return data;
      });
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function showError(err) { $('status').textContent = err ? String(err.message || err) : ''; }
  function base(path) { return '/sim/mini-programs/' + encodeURIComponent(state.appid) + path; }
  function userBase(path) { return base('/users/' + encodeURIComponent(state.openid) + path); }
  function time(ms) { var d = new Date(ms); return d.toLocaleTimeString(); }

  function loadMiniPrograms(keep) {
    return api('GET', '/sim/mini-programs').then(function (data) {
      // Rebuilding the selects closes an open dropdown, so only do it when something changed.
      var signature = JSON.stringify(data);
      if (!keep && signature === state.signature) return null;
      state.signature = signature;
      var select = $('mini-program');
      var previous = keep || select.value;
      select.innerHTML = '';
      var list = data.miniPrograms.slice().sort(function (a, b) {
        return (b.authorized - a.authorized) || (a.releaseTest - b.releaseTest);
      });
      list.forEach(function (mp) {
        var o = el('option', '', mp.nickname + (mp.authorized ? ' ✓ authorized' : ' (not authorized)'));
        o.value = mp.appid;
        o.dataset.authorized = String(mp.authorized);
        select.appendChild(o);
      });
      if (previous && list.some(function (m) { return m.appid === previous; })) select.value = previous;
      var mp = list.filter(function (m) { return m.appid === select.value; })[0];
      fillUsers(mp);
      return mp;
    });
  }

  function fillUsers(mp, keep) {
    var select = $('user');
    var previous = keep || select.value;
    select.innerHTML = '';
    (mp ? mp.users : []).forEach(function (u) {
      var o = el('option', '', u.nickname + ' · ' + u.openid);
      o.value = u.openid;
      select.appendChild(o);
    });
    if (previous && mp && mp.users.some(function (u) { return u.openid === previous; })) select.value = previous;
    $('mp-info').textContent = mp ? (mp.appid + ' · ' + mp.userName + (mp.authorized ? ' · permissions ' + mp.permissions.join(',') : ' · not authorized: open the authorization page first')) : '';
    selectConversation();
  }

  function selectConversation() {
    var appid = $('mini-program').value, openid = $('user').value;
    if (appid === state.appid && openid === state.openid) return;
    state.appid = appid; state.openid = openid; state.lastSeq = 0;
    $('messages').innerHTML = '';
    $('chat-title').textContent = $('mini-program').selectedOptions[0] ? $('mini-program').selectedOptions[0].textContent.replace(/ \(.*\)$| ✓ authorized$/, '') : '';
    poll();
  }

  function renderEntry(entry) {
    var row = el('div', 'msg from-' + entry.from);
    row.dataset.type = entry.type;
    row.dataset.seq = String(entry.seq);
    var d = entry.data || {};
    if (entry.type.indexOf('event:') === 0) {
      row.className = 'msg system';
      var text = entry.type === 'event:user_enter_tempsession'
        ? '进入客服会话 (entered the session' + (d.sessionFrom ? ', session-from "' + d.sessionFrom + '"' : '') + ')'
        : 'event ' + entry.type.slice(6);
      row.appendChild(el('span', 'sys', text + ' · ' + time(entry.at)));
      return row;
    }
    var bubble = el('div', 'bubble');
    if (entry.type === 'text') bubble.textContent = d.content;
    else if (entry.type === 'image') {
      var img = el('img', 'photo'); img.src = '/sim/media/' + encodeURIComponent(d.mediaId); img.alt = 'image';
      bubble.appendChild(img);
    } else if (entry.type === 'miniprogrampage') {
      bubble.className = 'bubble card';
      bubble.appendChild(el('div', 'card-title', d.title));
      if (d.thumbMediaId) { var t = el('img', 'thumb'); t.src = '/sim/media/' + encodeURIComponent(d.thumbMediaId); bubble.appendChild(t); }
      bubble.appendChild(el('div', 'card-foot', '小程序 · ' + d.pagePath));
    } else if (entry.type === 'link') {
      bubble.className = 'bubble card';
      var a = el('a', 'card-title', d.title); a.href = d.url; a.target = '_blank'; a.rel = 'noopener';
      bubble.appendChild(a);
      bubble.appendChild(el('div', 'card-foot', d.description || d.url));
    } else bubble.textContent = '[' + entry.type + '] ' + JSON.stringify(d);
    row.appendChild(bubble);
    row.appendChild(el('div', 'meta', (entry.from === 'user' ? 'you' : 'tenant') + ' · ' + time(entry.at)));
    return row;
  }

  function renderPushes(pushes) {
    var box = $('pushes');
    box.innerHTML = '';
    pushes.slice().reverse().forEach(function (p) {
      var item = el('div', 'push ' + p.status);
      item.dataset.id = p.id;
      var head = el('div', 'push-head');
      head.appendChild(el('b', '', p.type));
      head.appendChild(el('span', 'badge ' + p.status, p.status));
      head.appendChild(el('span', 'muted', ' ' + time(p.createdAt)));
      item.appendChild(head);
      item.appendChild(el('div', 'muted', p.id + (p.openid ? ' · ' + p.openid : '')));
      p.attempts.forEach(function (a) {
        var line = '#' + a.n + ' ' + (a.status === null ? 'no answer' : 'HTTP ' + a.status) + ' · ' + a.durationMs + ' ms';
        if (a.body !== null) line += ' · body "' + a.body.slice(0, 80) + '"';
        if (a.error) line += ' · ' + a.error;
        item.appendChild(el('div', 'attempt' + (a.ok ? ' ok' : ''), line));
      });
      if (p.reply) item.appendChild(el('pre', 'reply', 'reply: ' + (p.reply.plaintext || p.reply.error)));
      var details = el('details');
      details.appendChild(el('summary', '', 'plaintext'));
      details.appendChild(el('pre', '', p.plaintext));
      item.appendChild(details);
      box.appendChild(item);
    });
  }

  function poll() {
    if (!state.appid || !state.openid) { renderPushes([]); return Promise.resolve(); }
    var q = '?appid=' + encodeURIComponent(state.appid) + '&openid=' + encodeURIComponent(state.openid) + '&since=' + state.lastSeq;
    var forAppid = state.appid, forOpenid = state.openid;
    return api('GET', '/sim/chat/state' + q).then(function (data) {
      if (forAppid !== state.appid || forOpenid !== state.openid) return;
      var box = $('messages');
      data.conversation.timeline.forEach(function (entry) {
        if (entry.seq <= state.lastSeq) return;
        state.lastSeq = entry.seq;
        box.appendChild(renderEntry(entry));
        box.scrollTop = box.scrollHeight;
      });
      $('typing').hidden = !data.conversation.typing;
      var w = data.conversation.window;
      $('window').textContent = w.open
        ? 'send window open: ' + w.remaining + ' left until ' + new Date(w.deadline * 1000).toLocaleString()
        : 'send window closed (open the session or write a message)';
      renderPushes(data.pushes);
    }).catch(showError);
  }

  function act(body) {
    if (!state.appid || !state.openid) { showError(new Error('pick a mini-program and a user first')); return Promise.resolve(); }
    showError(null);
    return api('POST', userBase('/actions'), body).then(poll).catch(showError);
  }

  function fileToBase64(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(String(r.result).split(',')[1]); };
      r.onerror = function () { reject(r.error); };
      r.readAsDataURL(file);
    });
  }

  $('mini-program').addEventListener('change', function () { loadMiniPrograms($('mini-program').value); });
  $('user').addEventListener('change', selectConversation);
  $('refresh').addEventListener('click', function () { loadMiniPrograms(); });
  $('new-user').addEventListener('click', function () {
    var name = $('new-user-name').value.trim();
    api('POST', base('/users'), name ? { nickname: name } : {}).then(function (u) {
      $('new-user-name').value = '';
      return api('GET', base('')).then(function (mp) { fillUsers(mp, u.openid); });
    }).catch(showError);
  });
  $('open-session').addEventListener('click', function () {
    var from = $('session-from').value;
    act(from ? { type: 'enter_session', sessionFrom: from } : { type: 'enter_session' });
  });
  $('send').addEventListener('click', function () {
    var text = $('message-input').value;
    if (!text.trim()) return;
    $('message-input').value = '';
    act({ type: 'text', content: text });
  });
  $('message-input').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('send').click(); }
  });
  $('send-image').addEventListener('click', function () {
    var file = $('image-file').files[0];
    if (!file) { act({ type: 'image' }); return; }
    fileToBase64(file).then(function (b64) {
      $('image-file').value = '';
      return act({ type: 'image', imageBase64: b64, filename: file.name });
    }).catch(showError);
  });
  $('send-card').addEventListener('click', function () {
    act({ type: 'miniprogrampage', title: $('card-title').value || '商品详情', pagePath: $('card-path').value || 'pages/index/index' });
  });

  loadMiniPrograms().then(function () { setInterval(poll, 1000); });
  setInterval(function () { loadMiniPrograms(); }, 5000);
})();
`;
