#!/usr/bin/env python3
"""Trains llmr's default model: a ~10 M parameter Llama on the King James Bible, with a
SentencePiece BPE tokenizer (byte fallback, 4,000 pieces). Deterministic given --seed.

    python3 tools/prepare_kjv.py data/kjv                    # needs Debian's bible-kjv
    python3 tools/train_demo_model.py data/kjv OUT_DIR       # needs torch, transformers, sentencepiece
    llmr convert OUT_DIR/hf models/default.gguf --type q8_0

OUT_DIR/hf is a Hugging Face directory (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json); OUT_DIR/report.json holds the loss curves, the validation perplexity (measured
as `llmr perplexity` measures it), greedy continuations and samples.
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import sentencepiece as spm
import torch
import transformers
from tokenizers import Tokenizer

PROMPTS = ["And God said", "In the beginning", "The LORD is my shepherd"]


def train_tokenizer(train_txt, out_dir, vocab_size, seed):
    prefix = os.path.join(out_dir, "kjv_spm")
    spm.SentencePieceTrainer.train(
        input=train_txt, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size,
        character_coverage=1.0, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=16, random_seed=seed,
        max_sentence_length=16384, minloglevel=2)
    return prefix + ".model"


def hf_tokenizer(spm_model, hf_dir):
    """tokenizer.json through transformers' own SentencePiece converter (the classic llama layout)."""
    try:
        from transformers import LlamaTokenizerFast as Fast
    except ImportError:
        from transformers import LlamaTokenizer as Fast
    tok = Fast(vocab_file=spm_model, legacy=True, add_bos_token=True, add_eos_token=False, from_slow=True)
    tok.save_pretrained(hf_dir)
    for extra in ("special_tokens_map.json",):
        p = os.path.join(hf_dir, extra)
        if os.path.exists(p):
            os.remove(p)
    return Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))


def windows_loss(model, ids, ctx, device):
    """Mean next-token loss over non-overlapping windows of ctx tokens, every prediction in each
    window scored: the protocol `llmr perplexity -c ctx` follows."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for begin in range(0, len(ids) - 1, ctx):
            w = ids[begin:begin + ctx]
            if len(w) < 2:
                break
            x = torch.tensor([w], device=device)
            logits = model(x).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum")
            total += loss.item()
            count += len(w) - 1
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hf_dir = os.path.join(args.out_dir, "hf")
    os.makedirs(hf_dir, exist_ok=True)

    t0 = time.time()
    spm_model = train_tokenizer(os.path.join(args.data_dir, "train.txt"), args.out_dir, 4000, args.seed)
    tok = hf_tokenizer(spm_model, hf_dir)
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    train_text = open(os.path.join(args.data_dir, "train.txt")).read()
    valid_text = open(os.path.join(args.data_dir, "valid.txt")).read()
    # The converted tokenizer must agree with SentencePiece itself.
    lines = valid_text.splitlines()[:200]
    mismatches = sum(tok.encode(l, add_special_tokens=False).ids != sp.encode(l) for l in lines)
    print(f"tokenizer: {tok.get_vocab_size()} pieces, {mismatches} of {len(lines)} lines differ from sentencepiece")
    train_ids = np.array(tok.encode(train_text).ids, dtype=np.int64)
    valid_ids = tok.encode(valid_text).ids
    print(f"train tokens {len(train_ids)}, valid tokens {len(valid_ids)}, tokenizer {time.time() - t0:.1f}s")

    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=320, intermediate_size=864, num_hidden_layers=8,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=args.ctx,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        attention_dropout=0.0)
    model = transformers.LlamaForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    gen = torch.Generator().manual_seed(args.seed)
    train_t = torch.from_numpy(train_ids)
    curve = []
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(train_ids) - args.ctx - 1, (args.batch,), generator=gen)
        batch = torch.stack([train_t[s:s + args.ctx + 1] for s in starts.tolist()]).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            point = {"step": step, "train_loss": loss.item()}
            if step % 250 == 0 or step == args.steps - 1:
                point["valid_loss"] = windows_loss(model, valid_ids, args.ctx, device)
            curve.append(point)
            print(json.dumps(point), f"{time.time() - t0:.0f}s", flush=True)

    model.eval()
    model = model.float()
    valid_loss = windows_loss(model, valid_ids, args.ctx, device)
    print(f"final validation loss {valid_loss:.4f}, perplexity {math.exp(valid_loss):.3f} (fp32)")
    model.save_pretrained(hf_dir, safe_serialization=True)
    gc = os.path.join(hf_dir, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)

    greedy, samples = {}, {}
    for p in PROMPTS:
        ids = torch.tensor([tok.encode(p).ids], device=device)
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=48, do_sample=False, pad_token_id=0)
            greedy[p] = {"prompt_ids": ids[0].tolist(), "ids": out[0, ids.shape[1]:].tolist(),
                         "text": tok.decode(out[0, ids.shape[1]:].tolist())}
            torch.manual_seed(args.seed)
            s = model.generate(ids, max_new_tokens=64, do_sample=True, temperature=0.8, top_k=40, pad_token_id=0)
            samples[p] = tok.decode(s[0].tolist(), skip_special_tokens=True)
        print(f"greedy  {p!r} -> {greedy[p]['text']!r}")
        print(f"sample  {samples[p]!r}")
    report = {
        "parameters": n_params, "seed": args.seed, "steps": args.steps, "batch": args.batch, "ctx": args.ctx,
        "train_tokens": int(len(train_ids)), "valid_tokens": len(valid_ids), "curve": curve,
        "valid_loss": valid_loss, "valid_perplexity": math.exp(valid_loss), "greedy": greedy,
        "samples": samples, "seconds": time.time() - t0, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizer_mismatches_vs_sentencepiece": mismatches,
    }
    with open(os.path.join(args.out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
