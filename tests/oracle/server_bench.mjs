// Serving benchmark: generated tokens/s summed over clients and p50/p99 time to first token at
// 1, 8, 32 and 64 concurrent streaming clients (each: one completion, 64 new tokens).
// Usage: node server_bench.mjs http://127.0.0.1:PORT
const base = process.argv[2];
const prompt = 'And it came to pass in those days, that there went out a decree from Caesar Augustus, that all the world';
async function one(i) {
  const t0 = performance.now();
  const r = await fetch(base + '/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'default', prompt: prompt + ' ' + i,
    max_tokens: 64, temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }) });
  const reader = r.body.getReader();
  let ttft = 0, tokens = 0, buf = '';
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!ttft) ttft = performance.now() - t0;
    buf += dec.decode(value, { stream: true });
  }
  for (const e of buf.split('\n\n')) if (e.startsWith('data: {')) { const j = JSON.parse(e.slice(6)); if (j.usage) tokens = j.usage.completion_tokens; }
  return { ttft, tokens };
}
const pct = (a, p) => a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];
console.log('| clients | generated tok/s | p50 TTFT ms | p99 TTFT ms |\n|---|---|---|---|');
for (const n of [1, 8, 32, 64]) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const secs = (performance.now() - t0) / 1000;
  const tok = rs.reduce((s, r) => s + r.tokens, 0);
  console.log(`| ${n} | ${(tok / secs).toFixed(0)} | ${pct(rs.map((r) => r.ttft), 0.5).toFixed(0)} | ${pct(rs.map((r) => r.ttft), 0.99).toFixed(0)} |`);
}
