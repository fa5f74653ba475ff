// Load: 64 concurrent streaming clients (OpenAI SSE and Ollama NDJSON), several rounds. Every
// request must end complete and well formed or with a clean 503; afterwards /metrics shows every
// KV block free, and the server's RSS stays flat from round to round.
// Usage: node server_load.mjs http://127.0.0.1:PORT SERVER_PID
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const [base, pid] = process.argv.slice(2);
const clients = 64, rounds = 3;
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const words = ['LORD', 'David', 'Israel', 'Moses', 'Jerusalem', 'Egypt', 'Babylon', 'Judah'];

async function metric(name) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = new RegExp('^' + name + ' (\\S+)$', 'm').exec(text);
  assert.ok(m, 'metric ' + name + ' missing');
  return Number(m[1]);
}

async function openaiStream(i) {
  const r = await fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'default', stream: true, max_tokens: 8 + (i % 24), temperature: 0.7, seed: i,
      messages: [{ role: 'system', content: 'Speak as the prophets.' }, { role: 'user', content: `Tell of ${words[i % 8]} ${i}` }] }) });
  if (r.status === 503) { assert.ok(r.headers.get('retry-after')); return 'busy'; }
  assert.equal(r.status, 200);
  const text = await r.text();
  const events = text.split('\n\n').filter((e) => e.length);
  assert.equal(events.at(-1), 'data: [DONE]', 'stream must end with [DONE]');
  let finish = null, content = 0;
  for (const e of events.slice(0, -1)) {
    assert.ok(e.startsWith('data: '), 'SSE event: ' + e);
    const j = JSON.parse(e.slice(6));
    assert.equal(j.object, 'chat.completion.chunk');
    if (j.choices[0].finish_reason) finish = j.choices[0].finish_reason;
    content += (j.choices[0].delta.content ?? '').length;
  }
  assert.ok(['stop', 'length'].includes(finish), 'finish_reason ' + finish);
  return 'ok';
}

async function ollamaStream(i) {
  const r = await fetch(base + '/api/generate', {
    method: 'POST', body: JSON.stringify({ model: 'default', prompt: `And ${words[i % 8]} said`, raw: true,
      options: { num_predict: 8 + (i % 24), seed: i } }) });
  if (r.status === 503) return 'busy';
  assert.equal(r.status, 200);
  const lines = (await r.text()).split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.ok(last.eval_count >= 1 && last.eval_count <= 8 + (i % 24));
  assert.ok(lines.slice(0, -1).every((l) => l.done === false));
  return 'ok';
}

const sizes = [];
for (let round = 0; round < rounds; round++) {
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => (i % 2 ? ollamaStream(i) : openaiStream(i))));
  const ok = results.filter((r) => r === 'ok').length;
  assert.ok(ok >= clients / 2, `only ${ok} of ${clients} completed`);
  // Blocks come back when each sequence ends; give the scheduler a moment to finish its step.
  let used = -1;
  for (let i = 0; i < 50 && used !== 0; i++) {
    used = await metric('llmr_kv_blocks_used');
    if (used) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(used, 0, 'KV blocks still in use after the round');
  assert.equal(await metric('llmr_kv_blocks_free'), await metric('llmr_kv_blocks_total'));
  assert.equal(await metric('llmr_running_batch_size'), 0);
  sizes.push(rss());
  console.log(`round ${round}: ${ok}/${clients} complete, ${clients - ok} busy, ${Date.now() - t0} ms, RSS ${sizes.at(-1)} kB`);
}
// The first round grows scratch buffers and caches; later rounds must not keep growing.
assert.ok(sizes.at(-1) <= sizes[1] * 1.1 + 8192, `RSS grew: ${sizes.join(' -> ')} kB`);
console.log('load test passed');
