// llama.cpp's CPU speed on a GGUF, measured like llama-bench (pp = one batch, tg = one token at a time),
// through the prebuilt llama.cpp that node-llama-cpp ships (llama.cpp cannot be built here).
// Setup (scratch folder outside the repo; node resolves node-llama-cpp from the script's folder, so copy it there):
//   mkdir /tmp/lcbench && cd /tmp/lcbench && npm init -y && npm i -E node-llama-cpp@3.21.1
//   cp tools/llamacpp_cpu_bench.mjs /tmp/lcbench/ && node /tmp/lcbench/llamacpp_cpu_bench.mjs MODEL.gguf [-p 64] [-n 32] [-r 3] [-t 2]
// pp: fresh context, N random token ids in one batch, logits for the last one (as llama-bench).
// tg: fresh context, N single-token decodes of random ids, each with logits (sampling greedy on them
// is the only extra work node-llama-cpp adds: one argmax over the vocabulary).
import { readFileSync } from "node:fs";
import { getLlama, LlamaLogLevel, LlamaModel } from "node-llama-cpp";

// Its load-time tokenizer round-trip check aborts (GGML_ASSERT) on "no_vocab" files such as llmr synth's;
// it only produces warnings, so skip it. Nothing else here tokenizes text.
LlamaModel.prototype.getWarnings = () => [];

const args = process.argv.slice(2);
const opt = (flag, dflt) => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const modelPath = args[0];
if (!modelPath || modelPath.startsWith("-")) {
  console.error("usage: node llamacpp_cpu_bench.mjs MODEL.gguf [-p 64] [-n 32] [-r 3] [-t 2]");
  process.exit(2);
}
const nPrompt = opt("-p", 64), nGen = opt("-n", 32), reps = opt("-r", 3), threads = opt("-t", 2);

const logLines = [];
const llama = await getLlama({
  gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.debug,
  logger: (level, message) => logLines.push(message.trimEnd()),
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });

// Deterministic random ids (xorshift), as llmr bench uses random ids too.
let state = 0x9e3779b97f4a7c15n;
const vocab = Number(model.fileInfo.tensorInfo.find((t) => t.name === "token_embd.weight").dimensions[1]);
const randomToken = () => {
  state ^= state << 13n; state &= (1n << 64n) - 1n; state ^= state >> 7n; state ^= state << 17n; state &= (1n << 64n) - 1n;
  return Number(state % BigInt(vocab));
};
const withLogits = (t) => [t, { generateNext: { token: true, options: { temperature: 0 } } }];

let contextThreads;
async function freshSequence() {
  const context = await model.createContext({
    contextSize: Math.max(nPrompt, nGen) + 16, batchSize: Math.max(nPrompt, 1), threads, sequences: 1,
  });
  contextThreads = context.currentThreads;
  return { context, sequence: context.getSequence() };
}

async function pp() {
  const { context, sequence } = await freshSequence();
  const ids = Array.from({ length: nPrompt }, randomToken);
  const input = [...ids.slice(0, -1), withLogits(ids[ids.length - 1])];
  const t0 = process.hrtime.bigint();
  await sequence.controlledEvaluate(input);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await context.dispose();
  return nPrompt / s;
}

async function tg(n) {
  const { context, sequence } = await freshSequence();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; ++i) await sequence.controlledEvaluate([withLogits(randomToken())]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await context.dispose();
  return n / s;
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (v) => v.map((x) => x.toFixed(2)).join(" ");

// Warm-up as llama-bench: one prompt, one generated token.
if (nPrompt > 0) await pp();
if (nGen > 0) await tg(1);

const pkgDir = new URL("../", import.meta.resolve("node-llama-cpp"));  // node_modules/node-llama-cpp/
const version = (rel) => JSON.parse(readFileSync(new URL(rel, pkgDir))).version;
console.log(`node-llama-cpp ${version("package.json")}, @node-llama-cpp/linux-x64 ${version("../@node-llama-cpp/linux-x64/package.json")}` +
  `, llama.cpp ${JSON.stringify(llama.llamaCppRelease)}, buildType ${llama.buildType}, gpu ${llama.gpu}`);
console.log(`system info: ${llama.systemInfo}`);
// llama.cpp's own lines about the CPU variant, weight repacking and the first context's settings.
const seen = new Set();
for (const l of logLines) {
  const key = l.replace(/blk\.\d+\.\S+/g, "blk.*").replace(/tensor \S+ of/, "tensor * of");
  if (/load_backend|repack|model buffer size|Flash Attention|llama_kv_cache: size|n_batch|n_ubatch/i.test(l) && !seen.has(key)) {
    seen.add(key);
    console.log(`log: ${l}`);
  }
}
console.log(`model ${modelPath}, vocab ${vocab}, threads ${threads} (context reports ${contextThreads})`);
if (nPrompt > 0) {
  const r = []; for (let i = 0; i < reps; ++i) r.push(await pp());
  console.log(`pp${nPrompt}: median ${median(r).toFixed(2)} t/s (runs: ${fmt(r)})`);
}
if (nGen > 0) {
  const r = []; for (let i = 0; i < reps; ++i) r.push(await tg(nGen));
  console.log(`tg${nGen}: median ${median(r).toFixed(2)} t/s (runs: ${fmt(r)})`);
}
await model.dispose();
await llama.dispose();
