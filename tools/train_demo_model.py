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
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=16,
        max_sentence_length=16384, minloglevel=2)
    return prefix + ".model"


def hf_tokenizer(spm_model, hf_dir, ctx):
    """Writes tokenizer.json in the classic Llama layout (SentencePiece BPE with byte fallback, the
    merges derived from the vocabulary as transformers' converter derives them) and
    tokenizer_config.json; returns the tokenizer loaded back through the tokenizers library."""
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    special = {0: "<unk>", 1: "<s>", 2: "</s>"}
    merges = []
    for piece, pid in vocab.items():
        if pid in special or sp.is_byte(pid):
            continue
        local = [(piece[:k], piece[k:], pid) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        merges.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    merges.sort(key=lambda m: m[2])
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in special.items()]
    tokenizer_json = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b, _ in merges]},
    }
    with open(os.path.join(hf_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json, f, ensure_ascii=False, indent=1)
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "model_max_length": ctx, "tokenizer_class": "LlamaTokenizer",
              "legacy": True, "clean_up_tokenization_spaces": False}
    with open(os.path.join(hf_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
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
    ap.add_argument("--steps", type=int, default=800)
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
    tok = hf_tokenizer(spm_model, hf_dir, args.ctx)
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    train_text = open(os.path.join(args.data_dir, "train.txt")).read()
    valid_text = open(os.path.join(args.data_dir, "valid.txt")).read()
    # The converted tokenizer must agree with SentencePiece itself.
    lines = valid_text.splitlines()[:200]
    mismatches = sum(tok.encode(l, add_special_tokens=False).ids != sp.encode(l) for l in lines)
    mismatches += tok.encode(valid_text, add_special_tokens=False).ids != sp.encode(valid_text)
    print(f"tokenizer: {tok.get_vocab_size()} pieces, {mismatches} of {len(lines) + 1} texts differ from sentencepiece")
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
    best = None
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
        if step % 50 == 0 or step == args.steps - 1:
            point = {"step": step, "train_loss": loss.item(),
                     "valid_loss": windows_loss(model, valid_ids, args.ctx, device)}
            curve.append(point)
            print(json.dumps(point), f"{time.time() - t0:.0f}s", flush=True)
            # Early stopping: 1 M tokens of text overfit a 10 M parameter model within a few epochs.
            if best is None or point["valid_loss"] < best[0]:
                best = (point["valid_loss"], step, {k: v.detach().clone() for k, v in model.state_dict().items()})

    model.load_state_dict(best[2])
    print(f"keeping step {best[1]} (validation loss {best[0]:.4f})")
    model.eval()
    # Weights are rounded to f16, the type the repository ships the Hugging Face directory in, so that
    # transformers' figures below are those of the stored weights.
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(prm.half().float())
    model = model.float()
    valid_loss = windows_loss(model, valid_ids, args.ctx, device)
    print(f"final validation loss {valid_loss:.4f}, perplexity {math.exp(valid_loss):.3f} (fp32)")
    model.half().save_pretrained(hf_dir, safe_serialization=True)
    model.float()
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
        "parameters": n_params, "seed": args.seed, "kept_step": best[1], "steps": args.steps, "batch": args.batch, "ctx": args.ctx,
        "train_tokens": int(len(train_ids)), "valid_tokens": len(valid_ids), "curve": curve,
        "valid_loss": valid_loss, "valid_perplexity": math.exp(valid_loss), "greedy": greedy,
        "samples": samples, "seconds": time.time() - t0, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizer_mismatches_vs_sentencepiece": mismatches,
    }
    with open(os.path.join(args.out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
