// The web chat page of `llmr serve` in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): the page is self-contained, a message gets a streamed reply that grows on screen
// and matches the API's own greedy answer, the stop button cancels a reply on the server, the
// conversation list works, markdown and code blocks render (and escape), and a reload keeps it all.
// Usage: node web_chat.mjs http://127.0.0.1:PORT http://127.0.0.1:PORT2
// (the second server runs with --api-key secret; LLMR_WEB_CHAT_SCREENSHOT=file.png saves a picture)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, keyedBase] = process.argv.slice(2);
const CHROMIUM = '/usr/bin/chromium';
const ui = 10_000;  // ms for any one UI step
let passed = 0;
async function test(name, fn) {
  await fn();
  passed++;
  console.log('ok: ' + name);
}

async function metrics() {
  const text = await (await fetch(base + '/metrics', { signal: AbortSignal.timeout(5000) })).text();
  const value = (name) => {
    const m = text.match(new RegExp('^' + name + ' (\\S+)$', 'm'));
    assert.ok(m, 'metric ' + name + ' missing from /metrics');
    return Number(m[1]);
  };
  return { running: value('llmr_running_batch_size'), queued: value('llmr_queue_depth'),
           cancelled: value('llmr_sequences_cancelled_total'), used: value('llmr_kv_blocks_used') };
}
async function idleMetrics() {  // polls until nothing runs (bounded)
  let m;
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    m = await metrics();
    if (m.running === 0 && m.queued === 0 && m.used === 0) return m;
  }
  assert.fail('the server still runs a sequence 5 s after the reply ended: ' + JSON.stringify(m));
}

await test('GET / is one self-contained page under a policy that forbids other origins', async () => {
  const r = await fetch(base + '/', { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy') || '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await r.text();
  assert.match(html, /<script>/);
  assert.doesNotMatch(html, /<(script|link|img|iframe)[^>]*\s(src|href)=(?!"data:)/i, 'the page loads an external asset');
  assert.doesNotMatch(html, /@import|url\(/i, 'the style sheet loads an external asset');
});

const { data: [{ id: modelId }] } = await (await fetch(base + '/v1/models', { signal: AbortSignal.timeout(5000) })).json();
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmr-web-chat-'));
assert.ok(fs.existsSync(CHROMIUM), CHROMIUM + ' is missing (apt-get install chromium; tools/install_deps.sh does)');
const context = await chromium.launchPersistentContext(userDir, {
  executablePath: CHROMIUM, headless: true, timeout: 30_000, viewport: { width: 1200, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  context.setDefaultTimeout(ui);
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(r.status() + ' from ' + r.url()); });
  page.on('request', (r) => { if (!/^(data:|about:)/.test(r.url()) && !r.url().startsWith(base + '/')) problems.push('request off the server: ' + r.url()); });
  await page.goto(base + '/', { timeout: ui });
  const stored = () => page.evaluate(() => JSON.parse(localStorage.getItem('llmr-chat-v1')));
  const lastReply = () => page.locator('#log .msg.assistant').last();
  const replyDone = () => page.waitForFunction(() => !document.querySelector('#send').disabled &&
                                               !document.querySelector('.msg.streaming'), null, { timeout: 30_000 });
  let firstReply;

  await test('the page loads and names the model', async () => {
    await page.waitForFunction((id) => document.querySelector('#model').textContent === id, modelId);
    assert.equal(await page.locator('#stop').isDisabled(), true);
  });

  await test('a message gets a streamed reply that grows on screen, sent with the system prompt and sampling controls', async () => {
    await page.fill('#system', 'Answer in the words of the King James Bible.');
    await page.fill('#temperature', '0');
    await page.fill('#top_p', '1');
    await page.fill('#max_tokens', '48');
    await page.fill('#seed', '7');
    await page.fill('#input', 'And God said');
    // Records the reply's length at every change of the log, with the time.
    await page.evaluate(() => {
      window.growth = [];
      new MutationObserver(() => {
        const b = [...document.querySelectorAll('#log .msg.assistant .body')].pop();
        if (b) window.growth.push([performance.now(), b.textContent.length]);
      }).observe(document.querySelector('#log'), { childList: true, subtree: true, characterData: true });
    });
    const [request] = await Promise.all([page.waitForRequest('**/v1/chat/completions'), page.click('#send')]);
    const sent = request.postDataJSON();
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'Answer in the words of the King James Bible.' },
                                     { role: 'user', content: 'And God said' }]);
    assert.equal(sent.stream, true);
    assert.deepEqual([sent.temperature, sent.top_p, sent.max_tokens, sent.seed, sent.model], [0, 1, 48, 7, modelId]);
    await replyDone();
    const lengths = (await page.evaluate(() => window.growth)).map(([, n]) => n).filter((n, i, a) => n > 0 && n !== a[i - 1]);
    assert.ok(lengths.length >= 3, 'the reply appeared in too few steps: ' + JSON.stringify(lengths));
    for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] > lengths[i - 1], 'the reply shrank: ' + lengths);

    // The same request to the API without streaming (greedy) gives the text the page kept.
    const direct = await (await fetch(base + '/v1/chat/completions', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(20_000),
      body: JSON.stringify({ ...sent, stream: false, stream_options: undefined }) })).json();
    const conv = (await stored()).convs[0];
    firstReply = conv.messages[1];
    assert.equal(firstReply.content, direct.choices[0].message.content);
    assert.equal(firstReply.stats.tokens, direct.usage.completion_tokens);
    assert.equal(firstReply.stats.finish, direct.choices[0].finish_reason);
    assert.equal(conv.title, 'And God said');
  });

  await test('tokens per second are shown', async () => {
    const meta = await lastReply().locator('.meta').textContent();
    assert.match(meta, new RegExp('^' + firstReply.stats.tokens + ' tokens · \\d+\\.\\d tok/s · first token \\d+ ms'));
    assert.ok(firstReply.stats.tps > 0, JSON.stringify(firstReply.stats));
    assert.match(await page.locator('#status').textContent(), /tok\/s/);
  });

  let firstTexts, stoppedTexts;
  await test('the stop button ends a reply mid-stream and the server cancels it', async () => {
    firstTexts = await page.locator('#log .msg').allTextContents();
    await page.fill('#temperature', '0.8');
    await page.fill('#seed', '');
    await page.fill('#max_tokens', '160');
    // Alone, the tiny default model writes a 160-token reply in well under a second, faster than a
    // click lands; eight other requests in the batch slow each step so the click comes mid-stream.
    // Should a reply still win the race, try again (three times at most).
    for (let attempt = 1; ; attempt++) {
      await page.click('#new');  // a fresh conversation: the 256-token context holds one such reply
      await page.waitForFunction(() => document.querySelectorAll('#log .msg').length === 0);
      const before = await idleMetrics();
      const load = Array.from({ length: 8 }, () => fetch(base + '/v1/chat/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(30_000),
        body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: 'Let there be light' }],
                               max_tokens: 200, temperature: 0.8 }) }).then((r) => r.json()));
      for (const until = Date.now() + 5000; (await metrics()).running < 8 && Date.now() < until;)
        await new Promise((r) => setTimeout(r, 20));
      await page.fill('#input', 'In the beginning');
      await page.click('#send');
      await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('#log .msg')].pop();
        return m.classList.contains('error') || m.querySelector('.body').textContent.length > 0;
      }, null, { polling: 'raf', timeout: 20_000 });
      await page.click('#stop', { timeout: 2000 }).catch(() => {});  // disabled: the reply already ended
      await replyDone();
      for (const r of await Promise.all(load)) assert.equal(r.choices[0].finish_reason, 'length', JSON.stringify(r));
      const reply = (await stored()).convs[0].messages.at(-1);
      const after = await idleMetrics();
      assert.ok(!reply.error, reply.content);
      if (!reply.stopped && attempt < 3) {
        console.log(`  attempt ${attempt}: the reply ended (${reply.stats.tokens} tokens) before the click; again`);
        await page.locator('#convs .conv.active .del').click();
        continue;
      }
      assert.equal(reply.stopped, true, 'three replies ended before the stop button was clicked');
      assert.ok(reply.stats.tokens >= 1 && reply.stats.tokens < 160, JSON.stringify(reply.stats));
      assert.equal(after.cancelled, before.cancelled + 1, 'the server did not cancel the sequence');
      assert.match(await lastReply().locator('.meta').textContent(), /stopped/);
      assert.equal(await page.locator('#stop').isDisabled(), true);
      console.log(`  stopped after ${reply.stats.tokens} of at most 160 tokens`);
      break;
    }
    stoppedTexts = await page.locator('#log .msg').allTextContents();
  });

  await test('conversation list: switching, a new chat', async () => {
    const titles = () => page.locator('#convs .conv .title').allTextContents();
    assert.deepEqual(await titles(), ['In the beginning', 'And God said']);
    await page.locator('#convs .conv', { hasText: 'And God said' }).click();
    assert.deepEqual(await page.locator('#log .msg').allTextContents(), firstTexts);
    await page.click('#new');
    await page.waitForFunction(() => document.querySelectorAll('#convs .conv').length === 3);
    assert.equal(await page.locator('#log .msg').count(), 0);
    assert.equal(await page.locator('#convs .conv.active .title').textContent(), 'New chat');
    await page.fill('#input', 'Blessed are the meek');
    await page.click('#send');
    await replyDone();
    assert.equal(await page.locator('#log .msg.error').count(), 0);
    assert.deepEqual(await titles(), ['Blessed are the meek', 'In the beginning', 'And God said']);
    await page.locator('#convs .conv', { hasText: 'In the beginning' }).click();
    assert.deepEqual(await page.locator('#log .msg').allTextContents(), stoppedTexts);
  });

  await test('a reload keeps the conversations, the stopped reply and the settings', async () => {
    await page.reload({ timeout: ui });
    await page.waitForFunction(() => document.querySelectorAll('#convs .conv').length === 3);
    assert.deepEqual(await page.locator('#convs .conv .title').allTextContents(),
                     ['Blessed are the meek', 'In the beginning', 'And God said']);
    assert.equal(await page.locator('#convs .conv.active .title').textContent(), 'In the beginning');
    assert.deepEqual(await page.locator('#log .msg').allTextContents(), stoppedTexts);
    assert.match(await lastReply().locator('.meta').textContent(), /stopped/);
    assert.equal(await page.inputValue('#system'), 'Answer in the words of the King James Bible.');
    assert.equal(await page.inputValue('#max_tokens'), '160');
    assert.equal(await page.inputValue('#temperature'), '0.8');
    await page.locator('#convs .conv', { hasText: 'And God said' }).click();
    assert.deepEqual(await page.locator('#log .msg').allTextContents(), firstTexts);
  });

  await test('a conversation past the context leaves out its oldest turns', async () => {
    // "And God said" holds the system prompt and one 48-token exchange; with max_tokens 160 the
    // 256-token context cannot hold another turn on top.
    const sent = [], seen = problems.length;
    const record = (r) => { if (r.url().endsWith('/v1/chat/completions')) sent.push(r.postDataJSON()); };
    page.on('request', record);
    await page.fill('#input', 'Let there be light');
    await page.click('#send');
    await replyDone();
    page.off('request', record);
    // The first request's 400 is expected (the browser logs it too): take it out of the page's problems.
    assert.deepEqual(problems.splice(seen).map((p) => p.replace(/http\S+/, 'URL')).sort(),
                     ['400 from URL', 'console error: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    assert.equal(await page.locator('#log .msg.error').count(), 0);
    assert.deepEqual(sent.map((b) => b.messages.length), [4, 2]);
    assert.deepEqual(sent[1].messages, [{ role: 'system', content: 'Answer in the words of the King James Bible.' },
                                        { role: 'user', content: 'Let there be light' }]);
    assert.match(await lastReply().locator('.meta').textContent(), /2 earlier messages left out to fit the context/);
    assert.equal(await page.locator('#log .msg').count(), 4);  // the page still shows the whole conversation
  });

  await test('markdown and code blocks render; model text cannot inject markup', async () => {
    const code = 'for (int i = 0; i < n; ++i)\n  s += "<b>" + x[i];';
    const content = ['## Psalms', '', 'Some **bold**, *italic* and `inline <code>` text.', '', '- first', '- second', '',
                     '1. one', '2. two', '', '```cpp', code, '```', '', '> a quote', '',
                     '<img src=x onerror="window.pwned=1"> [link](javascript:window.pwned=1) [ok](https://example.org/)'].join('\n');
    await page.evaluate((content) => {
      const s = JSON.parse(localStorage.getItem('llmr-chat-v1'));
      s.convs.unshift({ id: 'md', title: 'markdown', system: '', messages: [{ role: 'user', content: 'show me' },
        { role: 'assistant', content, stats: { tokens: 3, tps: 1.5, ttft: 10, finish: 'stop' } }] });
      s.active = 'md';
      localStorage.setItem('llmr-chat-v1', JSON.stringify(s));
    }, content);
    await page.reload({ timeout: ui });
    const body = lastReply().locator('.body');
    await body.locator('h2').waitFor();
    assert.equal(await body.locator('h2').textContent(), 'Psalms');
    assert.equal(await body.locator('strong').textContent(), 'bold');
    assert.equal(await body.locator('em').textContent(), 'italic');
    assert.equal(await body.locator('p code').textContent(), 'inline <code>');
    assert.deepEqual(await body.locator('ul li').allTextContents(), ['first', 'second']);
    assert.deepEqual(await body.locator('ol li').allTextContents(), ['one', 'two']);
    assert.equal(await body.locator('.code pre code').textContent(), code);
    assert.equal(await body.locator('.code-head span').textContent(), 'cpp');
    assert.equal(await body.locator('blockquote').textContent(), 'a quote');
    assert.equal(await body.locator('img, b, script').count(), 0);
    assert.deepEqual(await body.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))), ['https://example.org/']);
    assert.match(await body.textContent(), /<img src=x onerror="window.pwned=1">/);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
  });

  if (process.env.LLMR_WEB_CHAT_SCREENSHOT) await page.screenshot({ path: process.env.LLMR_WEB_CHAT_SCREENSHOT });

  await test('deleting a conversation', async () => {
    await page.locator('#convs .conv.active .del').click();
    const titles = ['Blessed are the meek', 'In the beginning', 'And God said'];
    await page.waitForFunction(() => document.querySelectorAll('#convs .conv').length === 3);
    assert.deepEqual(await page.locator('#convs .conv .title').allTextContents(), titles);
    await page.reload({ timeout: ui });
    await page.waitForFunction(() => document.querySelectorAll('#convs .conv').length === 3);
    assert.deepEqual(await page.locator('#convs .conv .title').allTextContents(), titles);
  });

  await test('a server with --api-key: the page loads without it and asks for it', async () => {
    const keyed = await context.newPage();
    const sent = [];
    keyed.on('request', (r) => { if (r.url().endsWith('/v1/chat/completions')) sent.push(r.headers().authorization); });
    await keyed.goto(keyedBase + '/', { timeout: ui });
    await keyed.waitForFunction(() => /needs an API key/.test(document.querySelector('#status').textContent));
    await keyed.fill('#max_tokens', '8');
    await keyed.fill('#input', 'Hi');
    await keyed.click('#send');
    await keyed.locator('#log .msg.error').waitFor();
    assert.match(await keyed.locator('#log .msg.error').textContent(), /API key.*\(401\)/);
    await keyed.fill('#api_key', 'secret');
    await keyed.press('#api_key', 'Tab');
    await keyed.waitForFunction((id) => document.querySelector('#model').textContent === id, modelId);
    await keyed.fill('#input', 'And God said');
    await keyed.click('#send');
    await keyed.waitForFunction(() => !document.querySelector('#send').disabled && !document.querySelector('.msg.streaming'));
    assert.equal(await keyed.locator('#log .msg.error').count(), 1);
    assert.ok((await keyed.locator('#log .msg.assistant:not(.error) .body').textContent()).length > 0);
    assert.deepEqual(sent, [undefined, 'Bearer secret']);
    // The key stays in the tab's session storage, not in localStorage with the conversations.
    assert.doesNotMatch(await keyed.evaluate(() => JSON.stringify(localStorage)), /secret/);
    await keyed.close();
  });

  await test('corrupt stored conversations: the page starts empty instead of failing', async () => {
    for (const bad of ['{not json', '[1,2]', '{"convs":[{"id":"x","messages":"nope"},null,{"id":"y","messages":[null,{"role":"user"}]}]}']) {
      await page.evaluate((bad) => localStorage.setItem('llmr-chat-v1', bad), bad);
      await page.reload({ timeout: ui });
      await page.waitForFunction(() => document.querySelector('#model').textContent !== '');
      assert.ok(await page.locator('#convs .conv').count() <= 1, bad);
      assert.equal(await page.locator('#log .msg').count(), 0, bad);
    }
    await page.fill('#input', 'And God said');
    await page.click('#send');
    await replyDone();
    assert.equal(await page.locator('#log .msg.assistant:not(.error)').count(), 1);
  });

  await test('no page errors and no request left the server', async () => {
    assert.deepEqual(problems, []);
    assert.equal((await idleMetrics()).running, 0);
  });
} finally {
  await context.close().catch(() => {});
  fs.rmSync(userDir, { recursive: true, force: true });
}
console.log(`web chat: ${passed} tests passed`);
