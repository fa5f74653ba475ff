// Expected token ids from transformers.js (@lenml/tokenizers) for the tokenizer corpus.
// usage: node tokenizer_oracle.mjs --corpus DIR --out FILE [--seed N] [--vocabs a,b]
// Writes {seed, items: [{name, b64}], vocabs: {name: {dir, with_special: [[id]], plain: [[id]]}}}.
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const seed = BigInt(args.seed ?? Date.now()) & 0xffffffffn;
const vocabs = (args.vocabs ?? "llama2,llama3,llama3_1,qwen3,gemma3,deepseek_v3").split(",");

// mulberry32: small, seedable, identical on every run with the same seed.
let state = Number(seed) >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (s) => { const a = Array.from(s); return a[Math.floor(rand() * a.length)]; };

const items = [];
for (const name of fs.readdirSync(args.corpus).sort()) {
  items.push({ name, bytes: fs.readFileSync(path.join(args.corpus, name)) });
}
// Generated: 100 KB without a space (letters, digits, punctuation, CJK, emoji, accents mixed).
{
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;-_'\"!?()";
  const rare = ["é", "ß", "中", "文", "😀", "👍🏽", "\u0301", "ا", "ש", "\n", "\t"];
  let s = "";
  while (Buffer.byteLength(s) < 100 * 1024) s += rand() < 0.97 ? pick(alphabet) : rare[Math.floor(rand() * rare.length)];
  items.push({ name: "generated_100k_no_space", bytes: Buffer.from(s) });
  items.push({ name: "generated_100k_one_letter", bytes: Buffer.from("a".repeat(100 * 1024)) });
}
// Generated: random text from assorted Unicode blocks, with spaces.
const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x3000, 0x30ff], [0x4e00, 0x4fff],
  [0xac00, 0xad00], [0xfe00, 0xfe0f], [0xff00, 0xffef], [0x1f300, 0x1f6ff], [0x1f900, 0x1f9ff]];
for (let k = 0; k < 12; ++k) {
  let s = "";
  const n = 20 + Math.floor(rand() * 300);
  for (let i = 0; i < n; ++i) {
    if (rand() < 0.15) { s += pick(" \n\t  "); continue; }
    const [lo, hi] = blocks[Math.floor(rand() * blocks.length)];
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  items.push({ name: `generated_unicode_${k}`, bytes: Buffer.from(s) });
}
// Generated: random bytes (mostly invalid UTF-8).
for (let k = 0; k < 4; ++k) {
  const n = 1 + Math.floor(rand() * 200);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; ++i) b[i] = rand() < 0.5 ? 0x20 + Math.floor(rand() * 95) : Math.floor(rand() * 256);
  items.push({ name: `generated_bytes_${k}`, bytes: b });
}

const decoder = new TextDecoder("utf-8");  // invalid bytes -> U+FFFD, the reference reading
const out = { seed: seed.toString(), unicode: process.versions.unicode, items: items.map((x) => ({ name: x.name, b64: x.bytes.toString("base64") })), vocabs: {} };
for (const v of vocabs) {
  const dir = path.join(here, "node_modules", "@lenml", `tokenizer-${v}`, "models");
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  const with_special = [], plain = [];
  for (const it of items) {
    const text = decoder.decode(it.bytes);
    with_special.push(tok.encode(text));
    plain.push(tok.encode(text, { add_special_tokens: false }));
  }
  out.vocabs[v] = { dir, with_special, plain };
}
fs.mkdirSync(path.dirname(args.out), { recursive: true });
fs.writeFileSync(args.out, JSON.stringify(out));
