#include "server/web_ui.h"

namespace llmr::server {

// One self-contained page (no external assets: the Content-Security-Policy sent with it forbids them).
// Conversations and settings live in the browser's localStorage; replies stream from
// /v1/chat/completions as server-sent events; the stop button aborts the fetch, which closes the
// connection, and the server cancels the sequence at its next token.
const std::string& web_ui_html() {
  static const std::string html = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>llmr chat</title>
<link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;display:flex;height:100vh;color:#1f2328;background:#fff}
button{font:inherit;cursor:pointer;border:1px solid #c8ccd1;background:#f6f8fa;border-radius:6px;padding:4px 12px}
button:disabled{opacity:.45;cursor:default}
button.primary{background:#2563eb;border-color:#2563eb;color:#fff}
button.danger{background:#dc2626;border-color:#dc2626;color:#fff}
input,textarea{font:inherit;border:1px solid #c8ccd1;border-radius:6px;padding:4px 6px}
#side{width:240px;flex:none;background:#f3f4f6;border-right:1px solid #e1e4e8;display:flex;flex-direction:column}
#side header{padding:10px;font-weight:600;display:flex;justify-content:space-between;align-items:center}
#model{font-weight:400;font-size:12px;color:#57606a}
#new{margin:0 10px 8px}
#convs{flex:1;overflow:auto;padding:0 6px}
.conv{display:flex;align-items:center;padding:6px 8px;border-radius:6px;cursor:pointer;margin-bottom:2px}
.conv:hover{background:#e5e7eb}.conv.active{background:#dbe4ff}
.conv .title{flex:1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.conv .del{border:none;background:none;padding:0 4px;color:#8c959f;visibility:hidden}
.conv:hover .del,.conv.active .del{visibility:visible}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
#settings{border-bottom:1px solid #e1e4e8;padding:6px 14px;font-size:13px}
#settings summary{cursor:pointer;color:#57606a}
#settings .grid{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;padding-top:6px}
#settings label{display:flex;gap:6px;align-items:center}
#settings input[type=number]{width:76px}
#system{width:100%;min-height:38px;resize:vertical}
.syslabel{flex-basis:100%}
#log{flex:1;overflow:auto;padding:14px 18px}
.msg{max-width:860px;margin:0 auto 12px;padding:8px 12px;border-radius:8px;overflow-wrap:anywhere}
.msg.user{background:#eef4ff;white-space:pre-wrap}
.msg.assistant{background:#f6f8fa}
.msg.error{background:#fdecec;color:#a40e26}
.msg .role{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#57606a;margin-bottom:2px}
.msg .body>:first-child{margin-top:0}.msg .body>:last-child{margin-bottom:0}
.msg .meta{font-size:12px;color:#57606a;margin-top:4px}
.msg .meta .stopped{color:#b45309;font-weight:600}
.msg.streaming .body>:last-child:after,.msg.streaming .body:empty:after{content:"\25CF";color:#2563eb;margin-left:3px;animation:blink 1s infinite}
@keyframes blink{50%{opacity:.2}}
.body p{margin:.4em 0}.body h1,.body h2,.body h3,.body h4{margin:.6em 0 .3em;line-height:1.25}
.body ul,.body ol{margin:.3em 0;padding-left:1.6em}
.body blockquote{margin:.4em 0;padding-left:10px;border-left:3px solid #d0d7de;color:#57606a}
.body code{font:13px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;background:#eaeef2;padding:1px 4px;border-radius:4px}
.code{margin:.5em 0;border-radius:6px;overflow:hidden;background:#1e1e2e}
.code-head{display:flex;justify-content:space-between;align-items:center;padding:2px 8px;font-size:12px;color:#a6adc8;background:#2a2a3c}
.code-head button{font-size:11px;padding:0 8px;background:none;color:#a6adc8;border-color:#45475a}
.code pre{margin:0;padding:10px;overflow:auto;color:#e4e4ef}
.code pre code{background:none;padding:0;color:inherit}
#status{font-size:12px;color:#57606a;padding:2px 18px;min-height:20px}
#form{display:flex;gap:8px;padding:8px 14px 12px;border-top:1px solid #e1e4e8}
#input{flex:1;height:56px;resize:vertical}
#form .buttons{display:flex;flex-direction:column;gap:4px}
@media (max-width:700px){#side{width:150px}#settings input[type=number]{width:60px}.msg{padding:6px 8px}}
</style></head><body>
<nav id="side">
  <header><span>llmr chat</span><span id="model"></span></header>
  <button id="new" type="button">+ New chat</button>
  <div id="convs" role="list"></div>
</nav>
<main id="main">
  <details id="settings" open><summary>System prompt and sampling</summary>
    <div class="grid">
      <label class="syslabel"><textarea id="system" placeholder="System prompt for this conversation (optional)"></textarea></label>
      <label>Temperature <input id="temperature" type="number" step="0.1" min="0" max="2"></label>
      <label>top_p <input id="top_p" type="number" step="0.05" min="0" max="1"></label>
      <label>Max tokens <input id="max_tokens" type="number" step="1" min="1"></label>
      <label>Seed <input id="seed" type="number" step="1" min="0" placeholder="random"></label>
      <label>API key <input id="api_key" type="password" autocomplete="off" placeholder="none" style="width:120px"></label>
    </div>
  </details>
  <div id="log" aria-live="polite"></div>
  <div id="status"></div>
  <form id="form">
    <textarea id="input" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
    <div class="buttons">
      <button id="send" class="primary" type="submit">Send</button>
      <button id="stop" class="danger" type="button" disabled>Stop</button>
    </div>
  </form>
</main>
<script>
'use strict';
const $ = id => document.getElementById(id);
const STORE = 'llmr-chat-v1', SETTINGS = 'llmr-chat-settings-v1';
const DEFAULTS = {temperature: 0.7, top_p: 0.95, max_tokens: 128, seed: ''};

function load(key, fallback) {
  try { const v = JSON.parse(localStorage.getItem(key)); return v && typeof v === 'object' ? v : fallback; }
  catch (e) { return fallback; }
}
// Stored state from another version or a hand edit: keep only well-formed conversations.
function sane(v) {
  const convs = Array.isArray(v.convs) ? v.convs.filter(c => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
  for (const c of convs) c.messages = c.messages.filter(m => m && typeof m.content === 'string' && typeof m.role === 'string');
  return {convs, active: v.active};
}
let state = sane(load(STORE, {}));
let settings = Object.assign({}, DEFAULTS, load(SETTINGS, {}));
// A reply that was streaming when the page went away ends there.
for (const c of state.convs) for (const m of c.messages) if (m.streaming) { delete m.streaming; m.interrupted = true; }

const nodes = new WeakMap();  // message -> its element on screen
let streaming = null;  // {conv, msg, controller, t0, first, last, n}
let lastSave = 0;
function save() { lastSave = Date.now(); try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) {} }
function saveSettings() { localStorage.setItem(SETTINGS, JSON.stringify(settings)); }
function conv() { return state.convs.find(c => c.id === state.active); }

// --- Markdown: everything is escaped first; only the tags made here reach innerHTML. ---
function esc(s) { return s.replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c])); }
function inline(t) {
  return t.split(/(`[^`\n]+`)/).map((p, i) => i % 2 ? '<code>' + esc(p.slice(1, -1)) + '</code>' :
    esc(p).replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
          .replace(/\*\*(\S(?:[^*]*?\S)?)\*\*/g, '<strong>$1</strong>')
          .replace(/(^|[^\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])/g, '$1<em>$2</em>')
          .replace(/(^|[^\w])_(\S(?:[^_]*?\S)?)_(?!\w)/g, '$1<em>$2</em>')).join('');
}
const LIST = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
const BLOCK_START = /^\s*(```|~~~|>)|^#{1,6}\s|^\s*([-*+]|\d{1,9}[.)])\s/;
function markdown(src) {
  const lines = src.replace(/\r\n?/g, '\n').split('\n'), out = [];
  let i = 0, m;
  while (i < lines.length) {
    const l = lines[i];
    if ((m = l.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/))) {  // fenced code; unclosed while still streaming
      const fence = m[1], lang = m[2], body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      i++;
      out.push('<div class="code"><div class="code-head"><span>' + esc(lang || 'code') +
               '</span><button class="copy" type="button">copy</button></div><pre><code>' + esc(body.join('\n')) + '</code></pre></div>');
    } else if ((m = l.match(/^(#{1,6})\s+(.*)$/))) {
      out.push('<h' + m[1].length + '>' + inline(m[2]) + '</h' + m[1].length + '>'); i++;
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(l)) {
      out.push('<hr>'); i++;
    } else if (/^\s*>/.test(l)) {
      const q = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) q.push(lines[i++].replace(/^\s*>\s?/, ''));
      out.push('<blockquote>' + markdown(q.join('\n')) + '</blockquote>');
    } else if ((m = l.match(LIST))) {
      const ordered = /\d/.test(m[1]), items = [];
      const start = ordered ? parseInt(m[1], 10) : 1;
      while (i < lines.length && (m = lines[i].match(LIST)) && /\d/.test(m[1]) === ordered) { items.push('<li>' + inline(m[2]) + '</li>'); i++; }
      out.push(ordered ? '<ol' + (start !== 1 ? ' start="' + start + '"' : '') + '>' + items.join('') + '</ol>' : '<ul>' + items.join('') + '</ul>');
    } else if (!l.trim()) {
      i++;
    } else {
      const p = [lines[i++]];
      while (i < lines.length && lines[i].trim() && !BLOCK_START.test(lines[i])) p.push(lines[i++]);
      out.push('<p>' + p.map(inline).join('<br>') + '</p>');
    }
  }
  return out.join('');
}

// --- Rendering ---
function metaText(m) {
  const parts = [];
  if (m.stats) {
    parts.push(m.stats.tokens + ' tokens');
    if (m.stats.tps) parts.push(m.stats.tps.toFixed(1) + ' tok/s');
    if (m.stats.ttft != null) parts.push('first token ' + Math.round(m.stats.ttft) + ' ms');
    if (m.stats.finish) parts.push(m.stats.finish);
    if (m.stats.left) parts.push(m.stats.left + ' earlier message' + (m.stats.left > 1 ? 's' : '') + ' left out to fit the context');
    if (m.stats.lowered) parts.push('max tokens lowered to ' + m.stats.lowered + ' to fit the context');
  }
  return parts.map(esc).join(' · ') + (m.stopped ? ' · <span class="stopped">stopped</span>' : '') +
         (m.interrupted ? ' · <span class="stopped">interrupted</span>' : '');
}
function messageNode(m) {
  const d = document.createElement('div');
  d.innerHTML = '<div class="role">' + esc(m.role) + '</div><div class="body"></div><div class="meta"></div>';
  fillMessage(d, m);
  return d;
}
function fillMessage(d, m) {
  const body = d.querySelector('.body');
  if (m.role === 'assistant' && !m.error) body.innerHTML = markdown(m.content); else body.textContent = m.content;
  d.querySelector('.meta').innerHTML = m.error ? '' : metaText(m);
  d.className = 'msg ' + m.role + (m.error ? ' error' : '') + (m.streaming ? ' streaming' : '');
}
function nearBottom() { const l = $('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 60; }
function renderList() {
  const list = $('convs');
  list.innerHTML = '';
  for (const c of state.convs) {
    const d = document.createElement('div');
    d.className = 'conv' + (c.id === state.active ? ' active' : '');
    d.setAttribute('role', 'listitem');
    d.dataset.id = c.id;
    d.innerHTML = '<span class="title"></span><button class="del" type="button" title="Delete">\u00d7</button>';
    d.querySelector('.title').textContent = c.title || 'New chat';
    d.onclick = e => {
      if (e.target.classList.contains('del')) deleteConv(c.id);
      else { state.active = c.id; save(); render(); }
    };
    list.appendChild(d);
  }
}
function render() {
  renderList();
  const c = conv(), log = $('log');
  log.innerHTML = '';
  $('system').value = c ? c.system || '' : settings.system || '';
  if (c) for (const m of c.messages) { const n = messageNode(m); nodes.set(m, n); log.appendChild(n); }
  log.scrollTop = log.scrollHeight;
  $('send').disabled = !!streaming;
  $('stop').disabled = !streaming;
}
function newConv() {
  const c = {id: Date.now().toString(36) + Math.random().toString(36).slice(2, 7), title: '', system: $('system').value, messages: []};
  state.convs.unshift(c);
  state.active = c.id;
  save(); render();
  return c;
}
function deleteConv(id) {
  if (streaming && streaming.conv.id === id) streaming.controller.abort();
  state.convs = state.convs.filter(c => c.id !== id);
  if (state.active === id) state.active = state.convs.length ? state.convs[0].id : null;
  save(); render();
}

// --- Settings ---
// The API key stays in this tab's session only, not with the conversations on disk.
$('api_key').value = sessionStorage.getItem('llmr-chat-api-key') || '';
$('api_key').addEventListener('input', () => sessionStorage.setItem('llmr-chat-api-key', $('api_key').value));
for (const k of ['temperature', 'top_p', 'max_tokens', 'seed']) {
  $(k).value = settings[k];
  $(k).addEventListener('input', () => { settings[k] = $(k).value; saveSettings(); });
}
$('system').addEventListener('input', () => {
  const c = conv();
  if (c) { c.system = $('system').value; save(); } else { settings.system = $('system').value; saveSettings(); }
});
function number(id, fallback) { const v = parseFloat($(id).value); return Number.isFinite(v) ? v : fallback; }
function headers() {
  const h = {'Content-Type': 'application/json'};
  if ($('api_key').value) h.Authorization = 'Bearer ' + $('api_key').value;
  return h;
}
let MODEL = 'default';
function loadModel() {
  fetch('/v1/models', {headers: headers()}).then(r => r.ok ? r.json() : Promise.reject(r.status)).then(j => {
    MODEL = j.data[0].id;
    $('model').textContent = MODEL;
    if (/API key/.test($('status').textContent)) $('status').textContent = '';
  }, status => {
    $('model').textContent = '';
    if (status === 401) $('status').textContent = 'This server needs an API key: enter it under "System prompt and sampling".';
  });
}
loadModel();
$('api_key').addEventListener('change', loadModel);

// --- Streaming a reply ---
function showStatus() {
  const s = streaming;
  if (!s) return;
  const now = performance.now();
  const tps = s.n > 1 ? (s.n - 1) / ((s.last - s.first) / 1000) : 0;
  $('status').textContent = s.first ? s.n + ' tokens · ' + tps.toFixed(1) + ' tok/s' : 'waiting for the first token… ' + ((now - s.t0) / 1000).toFixed(1) + ' s';
}
// Posts the chat request. When the conversation no longer fits the model's context, leaves out its
// oldest turns (never the system prompt or the newest message), then lowers max_tokens.
async function post(body, signal) {
  let left = 0, lowered = 0;
  for (;;) {
    const r = await fetch('/v1/chat/completions', {method: 'POST', headers: headers(), body: JSON.stringify(body), signal});
    if (r.ok) return {r, left, lowered};
    let j = null;
    try { j = await r.json(); } catch (e) {}
    const message = j && j.error && j.error.message;
    const why = message ? message + ' (' + r.status + ')' : r.status + ' ' + r.statusText;
    const m = r.status === 400 && message && /maximum context length is (\d+) tokens; (?:the prompt has (\d+)|(\d+) in the prompt)/.exec(message);
    if (!m) throw new Error(why);
    const msgs = body.messages, first = msgs[0].role === 'system' ? 1 : 0;
    if (msgs.length - first > 1) {  // the oldest turn: up to the next user message
      let k = first + 1;
      while (k < msgs.length - 1 && msgs[k].role !== 'user') k++;
      msgs.splice(first, k - first);
      left += k - first;
      continue;
    }
    const room = +m[1] - +(m[2] || m[3]);
    if (m[3] && room >= 1 && body.max_tokens > room) { body.max_tokens = lowered = room; continue; }
    throw new Error(why);
  }
}
async function send() {
  const text = $('input').value.trim();
  if (!text || streaming) return;
  const c = conv() || newConv();
  c.system = $('system').value;
  c.messages.push({role: 'user', content: text});
  if (!c.title) c.title = text.slice(0, 48);
  const history = (c.system ? [{role: 'system', content: c.system}] : [])
    .concat(c.messages.filter(m => !m.error).map(m => ({role: m.role, content: m.content})));
  const msg = {role: 'assistant', content: '', streaming: true};
  c.messages.push(msg);
  $('input').value = '';
  const s = streaming = {conv: c, msg, controller: new AbortController(), t0: performance.now(), first: 0, last: 0, n: 0};
  save(); render(); showStatus();
  const timer = setInterval(showStatus, 250);
  const body = {model: MODEL, messages: history, stream: true, stream_options: {include_usage: true},
                temperature: number('temperature', DEFAULTS.temperature), top_p: number('top_p', DEFAULTS.top_p),
                max_tokens: Math.max(1, Math.round(number('max_tokens', DEFAULTS.max_tokens)))};
  if ($('seed').value !== '') body.seed = Math.round(number('seed', 0));
  let usage = null, finish = null, fit = {left: 0, lowered: 0};
  try {
    fit = await post(body, s.controller.signal);
    const r = fit.r;
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true}).replace(/\r\n/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const data = event.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('\n');
        if (!data || data === '[DONE]') continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message || 'server error');
        if (j.usage) usage = j.usage;
        const ch = j.choices && j.choices[0];
        if (!ch) continue;
        if (ch.finish_reason) finish = ch.finish_reason;
        if (ch.delta && ch.delta.content) {
          const now = performance.now();
          if (!s.first) s.first = now;
          s.last = now; s.n++;
          msg.content += ch.delta.content;
          const node = nodes.get(msg);
          if (node && node.isConnected) {
            const stick = nearBottom();
            fillMessage(node, msg);
            if (stick) $('log').scrollTop = $('log').scrollHeight;
          }
          showStatus();
          if (Date.now() - lastSave > 300) save();
        }
      }
    }
  } catch (e) {
    if (e.name === 'AbortError') msg.stopped = true;
    else { msg.error = true; msg.content = (msg.content ? msg.content + '\n\n' : '') + 'Error: ' + e.message; }
  }
  clearInterval(timer);
  delete msg.streaming;
  const tokens = usage && !msg.stopped ? usage.completion_tokens : s.n;
  const seconds = s.n > 1 ? (s.last - s.first) / 1000 : 0;
  msg.stats = {tokens, tps: seconds > 0 ? (s.n - 1) / seconds : 0, ttft: s.first ? s.first - s.t0 : null,
               finish: msg.stopped ? null : finish, left: fit.left, lowered: fit.lowered};
  streaming = null;
  save();
  const node = nodes.get(msg);
  if (node && node.isConnected) fillMessage(node, msg);
  $('status').textContent = msg.error ? '' : metaText(msg).replace(/<[^>]*>/g, '');
  $('send').disabled = false; $('stop').disabled = true;
}
$('form').addEventListener('submit', e => { e.preventDefault(); send(); });
$('input').addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } });
$('stop').addEventListener('click', () => { if (streaming) streaming.controller.abort(); });
$('new').addEventListener('click', () => { if (!conv() || conv().messages.length) newConv(); $('input').focus(); });
$('log').addEventListener('click', e => {
  if (!e.target.classList.contains('copy')) return;
  const code = e.target.closest('.code').querySelector('code').textContent;
  if (navigator.clipboard) navigator.clipboard.writeText(code).then(() => { e.target.textContent = 'copied'; }, () => {});
});
// The partial reply of a stream cut by a reload or a closed tab (everything else is saved as it changes).
window.addEventListener('pagehide', () => { if (streaming) save(); });
// Another tab changed the conversations: show them (not mid-stream, which would lose this tab's reply).
window.addEventListener('storage', e => {
  if (e.key === STORE && !streaming) { state = sane(load(STORE, {})); render(); }
});
render();
</script>
</body></html>
)HTML";
  return html;
}

}  // namespace llmr::server
