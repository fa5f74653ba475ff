// Bad input against a server started with --api-key secret --max-body 65536 --parallel 2 --queue 1:
// each answered with the right status and the API's own error shape, while a good request running
// beside them completes.
// Usage: node server_bad_input.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import net from 'node:net';

const base = process.argv[2];
const { hostname, port } = new URL(base);
const auth = { Authorization: 'Bearer secret' };
let passed = 0;
async function test(name, fn) {
  await fn();
  passed++;
  console.log('ok: ' + name);
}
const post = (path, body, headers = auth) =>
  fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
const chat = (extra) => JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });

// Raw bytes over a socket; resolves with everything the server sent before closing (or timeout).
function raw(bytes, { timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), hostname, () => s.end(bytes));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => { s.destroy(); resolve(out); }, timeout);
  });
}
async function openaiError(r, status) {
  assert.equal(r.status, status);
  const j = await r.json();
  assert.equal(typeof j.error.message, 'string');
  assert.ok('type' in j.error && 'param' in j.error && 'code' in j.error, JSON.stringify(j));
  return j;
}
async function ollamaError(r, status) {
  assert.equal(r.status, status);
  const j = await r.json();
  assert.equal(typeof j.error, 'string');
}

// A long generation runs throughout; it must finish well.
const background = post('/api/generate', JSON.stringify({ model: 'default', prompt: 'And it came to pass', raw: true,
  stream: false, options: { num_predict: 240, temperature: 0 } }));

await test('401 without or with a wrong key; /health needs none', async () => {
  await openaiError(await post('/v1/chat/completions', chat(), {}), 401);
  await openaiError(await post('/v1/chat/completions', chat(), { Authorization: 'Bearer nope' }), 401);
  await ollamaError(await fetch(base + '/api/tags'), 401);
  assert.equal((await fetch(base + '/health')).status, 200);
});

await test('malformed JSON, wrong types, missing fields: 400', async () => {
  await openaiError(await post('/v1/chat/completions', '{"model": "default", "messages": ['), 400);
  await openaiError(await post('/v1/chat/completions', '[1,2]'), 400);
  await openaiError(await post('/v1/chat/completions', chat({ messages: 'hello' })), 400);
  await openaiError(await post('/v1/chat/completions', chat({ messages: [{ role: 5, content: 'x' }] })), 400);
  await openaiError(await post('/v1/chat/completions', chat({ stream: 'yes' })), 400);
  await openaiError(await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] })), 400);
  await openaiError(await post('/v1/completions', JSON.stringify({ model: 'default' })), 400);
  await openaiError(await post('/v1/completions', JSON.stringify({ model: 'default', prompt: 'x', n: 100 })), 400);
  await openaiError(await post('/v1/completions', JSON.stringify({ model: 'default', prompt: 'x', logit_bias: { a: 1 } })), 400);
  await ollamaError(await post('/api/chat', '{oops'), 400);
  await ollamaError(await post('/api/generate', JSON.stringify({ model: 'default', prompt: 7 })), 400);
  await ollamaError(await post('/api/generate', JSON.stringify({ prompt: 'x' })), 400);
});

await test('negative, zero and huge max_tokens; prompt longer than the context: 400', async () => {
  for (const max_tokens of [-5, 0, 1e12, 100000])
    await openaiError(await post('/v1/chat/completions', chat({ max_tokens })), 400);
  await openaiError(await post('/v1/completions', JSON.stringify({ model: 'default', prompt: 'the '.repeat(2000), max_tokens: 1 })), 400);
  await ollamaError(await post('/api/generate', JSON.stringify({ model: 'default', prompt: 'the '.repeat(2000), stream: false })), 400);
});

await test('invalid UTF-8 in the body: 400', async () => {
  const body = Buffer.concat([Buffer.from('{"model":"default","prompt":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
  const r = await fetch(base + '/v1/completions', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body });
  await openaiError(r, 400);
});

await test('unknown model and route: 404', async () => {
  await openaiError(await post('/v1/chat/completions', chat({ model: 'gpt-9' })), 404);
  await ollamaError(await post('/api/show', JSON.stringify({ model: 'gpt-9' })), 404);
  await openaiError(await fetch(base + '/v1/nothing', { headers: auth }), 404);
});

await test('body over the limit: 413; malformed HTTP: 400', async () => {
  const r = await raw(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nContent-Length: 1000000\r\n\r\n`);
  assert.match(r, /^HTTP\/1\.1 413 /);
  assert.match(await raw('GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw('GET / HTTP/1.1\r\nBad Header Line\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw(Buffer.alloc(100000, 0x41)), /^HTTP\/1\.1 431 /);
});

await test('queue full: 503 with Retry-After', async () => {
  // Six at once on a --parallel 2 --queue 1 server: at most three are taken, the rest get 503.
  const long = JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 250, temperature: 0 });
  const rs = await Promise.all(Array.from({ length: 6 }, () => post('/v1/completions', long)));
  const busy = rs.filter((r) => r.status === 503);
  assert.ok(busy.length >= 3, 'statuses ' + rs.map((r) => r.status));
  for (const r of busy) {
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.match((await r.json()).error.message, /busy/);
  }
  for (const r of rs.filter((r) => r.status !== 503)) {
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].finish_reason, 'length');
  }
});

async function metric(name) {
  const m = new RegExp('^' + name + ' (\\S+)$', 'm').exec(await (await fetch(base + '/metrics', { headers: auth })).text());
  return Number(m[1]);
}

await test('a client that disconnects mid-stream is cancelled and its blocks freed', async () => {
  const before = await metric('llmr_sequences_cancelled_total');
  await new Promise((resolve) => {
    const s = net.connect(Number(port), hostname, () => {
      const body = JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 200, stream: true, temperature: 0 });
      s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    s.once('data', () => { s.destroy(); resolve(); });
  });
  let cancelled = before;
  for (let i = 0; i < 50 && cancelled === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    cancelled = await metric('llmr_sequences_cancelled_total');
  }
  assert.equal(cancelled, before + 1);
});

await test('a very slow reader does not hold up others', async () => {
  const generated = await metric('llmr_generated_tokens_total');
  const s = net.connect(Number(port), hostname);
  await new Promise((r) => s.once('connect', r));
  s.pause();  // reads nothing while the stream is produced
  const body = JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 200, stream: true });
  s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // Its sequence leaves the one-place queue for the batch before the next request comes (up to 10 s:
  // on a loaded machine the batch loop may take a while to admit it). It must have made a token (nothing
  // else runs now), not only the queue be empty: that is also what the server shows before it has read it.
  const admitted = async () =>
    (await metric('llmr_generated_tokens_total')) > generated && (await metric('llmr_queue_depth')) === 0;
  let ready = await admitted();
  for (let i = 0; i < 200 && !ready; i++) {
    await new Promise((r) => setTimeout(r, 50));
    ready = await admitted();
  }
  assert.ok(ready, 'the slow reader\'s request never left the queue for the batch');
  const t0 = Date.now();
  const r = await post('/v1/completions', JSON.stringify({ model: 'default', prompt: 'And', max_tokens: 5 }));
  assert.equal(r.status, 200);
  assert.equal((await r.json()).choices[0].finish_reason, 'length');
  assert.ok(Date.now() - t0 < 20000);
  let got = '';
  s.on('data', (d) => (got += d));
  s.resume();
  await new Promise((r) => setTimeout(r, 1500));
  s.destroy();
  assert.match(got, /^HTTP\/1\.1 200 /);
});

const bg = await background;
assert.equal(bg.status, 200);
const j = await bg.json();
assert.equal(j.done, true);
assert.equal(j.eval_count, 240);
console.log('ok: the background request completed');
for (let i = 0; i < 50 && (await metric('llmr_kv_blocks_used')) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
assert.equal(await metric('llmr_kv_blocks_used'), 0);
console.log(`${passed + 1} bad-input tests passed`);
