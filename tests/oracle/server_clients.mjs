// The official `openai` and `ollama` npm clients, unmodified, against `llmr serve` on loopback.
// Usage: node server_clients.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const base = process.argv[2];
const openai = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0 });
const ollama = new Ollama({ host: base });
let passed = 0;
async function test(name, fn) {
  await fn();
  passed++;
  console.log('ok: ' + name);
}

const models = await openai.models.list();
const model = models.data[0].id;
const messages = [{ role: 'system', content: 'You are the scribe.' }, { role: 'user', content: 'In the beginning' }];

await test('openai chat, not streamed, max_tokens', async () => {
  const r = await openai.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.completion_tokens <= 12 && r.usage.completion_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await test('openai chat streamed equals not streamed (greedy), usage in last chunk', async () => {
  const whole = await openai.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
  const stream = await openai.chat.completions.create({
    model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      text += ch.delta.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.ok(chunks > 3);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

await test('openai completion with a stop sequence, streamed and not', async () => {
  const prompt = 'And God said, Let there be light: and there was';
  const free = await openai.completions.create({ model, prompt, max_tokens: 40, temperature: 0 });
  const text = free.choices[0].text;
  assert.ok(text.length > 8, 'needs some text to cut: ' + JSON.stringify(text));
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  const cut = text.slice(0, text.indexOf(stop));
  const r = await openai.completions.create({ model, prompt, max_tokens: 40, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].text, cut);
  assert.equal(r.choices[0].finish_reason, 'stop');
  let streamed = '';
  for await (const c of await openai.completions.create({ model, prompt, max_tokens: 40, temperature: 0, stop, stream: true }))
    streamed += c.choices[0]?.text ?? '';
  assert.equal(streamed, cut);
});

await test('openai n=2 with a seed, and seeded sampling repeats', async () => {
  const a = await openai.completions.create({ model, prompt: 'The LORD is my', max_tokens: 10, temperature: 1, seed: 5, n: 2 });
  assert.equal(a.choices.length, 2);
  const b = await openai.completions.create({ model, prompt: 'The LORD is my', max_tokens: 10, temperature: 1, seed: 5, n: 2 });
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.equal(a.choices[1].text, b.choices[1].text);
});

await test('openai errors: unknown model is 404, bad field is 400', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'nope', messages }), (e) => e.status === 404 && e.code === 'model_not_found');
  await assert.rejects(openai.chat.completions.create({ model, messages, max_tokens: -1 }), (e) => e.status === 400);
  await assert.rejects(openai.chat.completions.create({ model, messages, max_tokens: 1e9 }), (e) => e.status === 400);
  await assert.rejects(openai.chat.completions.create({ model, messages, temperature: 'hot' }), (e) => e.status === 400);
});

await test('ollama list, show, ps, version', async () => {
  const tags = await ollama.list();
  assert.ok(tags.models.some((m) => m.name.startsWith(model)));
  const show = await ollama.show({ model });
  assert.equal(show.details.format, 'gguf');
  assert.ok((await ollama.ps()).models.length === 1);
  assert.ok((await ollama.version()).version.length > 0);
});

await test('ollama generate, streamed and not, num_predict and stop', async () => {
  const opts = { temperature: 0, num_predict: 20 };
  const r = await ollama.generate({ model, prompt: 'Blessed are the', raw: true, options: opts, stream: false });
  assert.equal(r.done, true);
  assert.ok(r.eval_count <= 20 && r.eval_count > 0);
  let text = '', last = null;
  for await (const part of await ollama.generate({ model, prompt: 'Blessed are the', raw: true, options: opts, stream: true })) {
    text += part.response;
    last = part;
  }
  assert.equal(text, r.response);
  assert.equal(last.done, true);
  assert.ok(r.response.length > 6);
  const stop = r.response.slice(3, 6);
  const s = await ollama.generate({ model, prompt: 'Blessed are the', raw: true, options: { ...opts, stop: [stop] }, stream: false });
  assert.equal(s.response, r.response.slice(0, r.response.indexOf(stop)));
  assert.equal(s.done_reason, 'stop');
});

await test('ollama chat, streamed and not', async () => {
  const opts = { temperature: 0, num_predict: 12 };
  const r = await ollama.chat({ model, messages, options: opts, stream: false });
  assert.equal(r.message.role, 'assistant');
  let text = '';
  for await (const part of await ollama.chat({ model, messages, options: opts, stream: true })) text += part.message.content;
  assert.equal(text, r.message.content);
  await assert.rejects(ollama.chat({ model: 'nope', messages, stream: false }), (e) => e.status_code === 404);
});

console.log(`${passed} client tests passed`);
