#include "server/web_ui.h"

namespace llmr::server {

// One self-contained page: no external assets. Conversations live in localStorage.
const std::string& web_ui_html() {
  static const std::string html = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>llmr chat</title>
<style>
body{margin:0;font:15px/1.45 system-ui,sans-serif;display:flex;height:100vh;color:#222}
#side{width:220px;background:#f3f3f3;padding:8px;overflow:auto;border-right:1px solid #ddd}
#side button{width:100%;margin-bottom:6px}
.conv{padding:4px 6px;cursor:pointer;border-radius:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.conv.active{background:#dde}
#main{flex:1;display:flex;flex-direction:column}
#settings{padding:6px 10px;border-bottom:1px solid #ddd;display:flex;gap:10px;flex-wrap:wrap;align-items:center}
#settings textarea{width:320px;height:32px}
#log{flex:1;overflow:auto;padding:10px}
.msg{margin:8px 0;padding:8px 10px;border-radius:6px;white-space:pre-wrap}
.user{background:#e8f0fe}.assistant{background:#f6f6f6}
pre{background:#272822;color:#f8f8f2;padding:8px;border-radius:4px;overflow:auto;white-space:pre}
#form{display:flex;padding:8px;gap:6px;border-top:1px solid #ddd}
#input{flex:1;height:48px}
#stats{font-size:12px;color:#666;padding:0 10px}
</style></head><body>
<div id="side"><button id="new">New chat</button><div id="convs"></div></div>
<div id="main">
<div id="settings">
<label>System <textarea id="system" placeholder="system prompt"></textarea></label>
<label>Temperature <input id="temp" type="number" step="0.1" min="0" max="2" value="0.7" style="width:60px"></label>
<label>top_p <input id="topp" type="number" step="0.05" min="0.05" max="1" value="0.95" style="width:60px"></label>
<label>Max tokens <input id="maxtok" type="number" min="1" value="128" style="width:70px"></label>
</div>
<div id="log"></div><div id="stats"></div>
<form id="form"><textarea id="input" placeholder="Message"></textarea>
<button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button></form>
</div>
<script>
const $=id=>document.getElementById(id);
let state=JSON.parse(localStorage.getItem('llmr-chat')||'null')||{convs:[],active:-1};
let controller=null,MODEL='default';
fetch('/v1/models').then(r=>r.json()).then(j=>{MODEL=j.data[0].id}).catch(()=>{});
function save(){localStorage.setItem('llmr-chat',JSON.stringify(state))}
function esc(s){return s.replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
function md(s){
  const parts=s.split(/```/);
  return parts.map((p,i)=>{
    if(i%2){const nl=p.indexOf('\n');return '<pre><code>'+esc(nl>=0?p.slice(nl+1):p)+'</code></pre>'}
    return esc(p).replace(/`([^`]+)`/g,'<code>$1</code>').replace(/\*\*([^*]+)\*\*/g,'<b>$1</b>').replace(/\*([^*]+)\*/g,'<i>$1</i>');
  }).join('');
}
function conv(){return state.convs[state.active]}
function render(){
  $('convs').innerHTML='';
  state.convs.forEach((c,i)=>{const d=document.createElement('div');d.className='conv'+(i===state.active?' active':'');
    d.textContent=c.title||'New chat';d.onclick=()=>{state.active=i;save();render()};$('convs').appendChild(d)});
  const c=conv();$('log').innerHTML='';
  if(!c)return;
  $('system').value=c.system||'';
  for(const m of c.messages){const d=document.createElement('div');d.className='msg '+m.role;d.innerHTML=md(m.content);$('log').appendChild(d)}
  $('log').scrollTop=$('log').scrollHeight;
}
function newConv(){state.convs.unshift({title:'',system:$('system').value,messages:[]});state.active=0;save();render()}
$('new').onclick=newConv;
$('stop').onclick=()=>{if(controller)controller.abort()};
$('form').onsubmit=async e=>{
  e.preventDefault();
  const text=$('input').value.trim();if(!text||controller)return;
  if(!conv())newConv();
  const c=conv();c.system=$('system').value;
  c.messages.push({role:'user',content:text});if(!c.title)c.title=text.slice(0,40);
  const reply={role:'assistant',content:''};c.messages.push(reply);$('input').value='';save();render();
  const node=$('log').lastChild;
  const msgs=(c.system?[{role:'system',content:c.system}]:[]).concat(c.messages.slice(0,-1));
  controller=new AbortController();$('stop').disabled=false;$('send').disabled=true;
  const t0=performance.now();let first=0,n=0;
  try{
    const r=await fetch('/v1/chat/completions',{method:'POST',headers:{'Content-Type':'application/json'},signal:controller.signal,
      body:JSON.stringify({model:MODEL,messages:msgs,stream:true,temperature:+$('temp').value,top_p:+$('topp').value,max_tokens:+$('maxtok').value})});
    if(!r.ok){reply.content='[error '+r.status+'] '+((await r.json()).error||{}).message;throw 0}
    const rd=r.body.getReader();const dec=new TextDecoder();let buf='';
    for(;;){const {done,value}=await rd.read();if(done)break;buf+=dec.decode(value,{stream:true});
      let i;while((i=buf.indexOf('\n\n'))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);
        if(!ev.startsWith('data: ')||ev==='data: [DONE]')continue;
        const j=JSON.parse(ev.slice(6));const d=j.choices&&j.choices[0]&&j.choices[0].delta;
        if(d&&d.content){if(!first)first=performance.now();n++;reply.content+=d.content;node.innerHTML=md(reply.content);
          $('stats').textContent=n+' pieces, '+(n/((performance.now()-first)/1000||1)).toFixed(1)+' tok/s'}}}
  }catch(err){if(err&&err.name==='AbortError')reply.content+=' [stopped]'}
  controller=null;$('stop').disabled=true;$('send').disabled=false;save();render();
  $('stats').textContent=n+' tokens in '+((performance.now()-t0)/1000).toFixed(2)+' s'+(first?', '+(n/((performance.now()-first)/1000||1)).toFixed(1)+' tok/s':'');
};
render();
</script>
</body></html>
)HTML";
  return html;
}

}  // namespace llmr::server
