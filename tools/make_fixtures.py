#!/usr/bin/env python3
"""Builds the golden fixtures: small random-initialised models of every supported architecture,
saved as Hugging Face directories, with transformers' own logits recorded as the oracle.

Runs where transformers and torch are installed (the H200 machine; the CPU is enough):
    python3 tools/make_fixtures.py tests/fixtures
Each fixture directory holds config.json, model.safetensors, expected.json (token ids, greedy
continuation, settings) and expected_logits.safetensors (prompt_logits [P, V], decode_logits [D, V]).
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

VOCAB = 512
PROMPT_LEN = 12
DECODE_STEPS = 4
GREEDY_TOKENS = 32
PROMPT_CANDIDATES = 48

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=128,
    intermediate_size=320,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
)

# name -> (config class, extra config, storage dtype of the weights)
FIXTURES = {
    "llama2": ("LlamaConfig", dict(num_key_value_heads=4, rope_theta=10000.0), torch.float32),
    "llama3": ("LlamaConfig", dict(rope_theta=500000.0, tie_word_embeddings=True,
                                   rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0,
                                                     high_freq_factor=4.0,
                                                     original_max_position_embeddings=64)),
               torch.bfloat16),
    "llama-mqa": ("LlamaConfig", dict(num_key_value_heads=1, rope_theta=10000.0), torch.float16),
    "mistral": ("MistralConfig", dict(rope_theta=1000000.0, sliding_window=None), torch.float16),
    "qwen2": ("Qwen2Config", dict(rope_theta=1000000.0, tie_word_embeddings=True), torch.bfloat16),
    "qwen3": ("Qwen3Config", dict(rope_theta=1000000.0, head_dim=64, tie_word_embeddings=False),
              torch.float32),
}


def randomise(model, gen):
    """Norms around 1 so a mistake in applying them shows, biases non-zero, and layer weights small
    enough (gain 0.6 per projection) that the network is not chaotic: 8-bit weight rounding then moves
    the logits by well under a percent, as in trained models, instead of being amplified layer by layer."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-1]
                gain = 3.0 if name == "lm_head.weight" else 0.6
                p.copy_(torch.randn(p.shape, generator=gen) * (gain / fan_in ** 0.5))


def make(name, out_root, seed):
    cls_name, extra, store_dtype = FIXTURES[name]
    cfg = getattr(transformers, cls_name)(**{**COMMON, **extra})
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    randomise(model, gen)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    # Round to the storage dtype first, so the f32 oracle sees exactly the stored weights.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(store_dtype).to(torch.float32))
    model.eval()

    # The prompt is the one, among PROMPT_CANDIDATES random ones, whose greedy path has the widest
    # smallest top-1 margin, so that quantized files can be held to the same greedy tokens without
    # near-ties deciding the outcome. Logit comparisons do not depend on this choice.
    best = None
    for _ in range(PROMPT_CANDIDATES):
        cand = torch.randint(3, VOCAB, (1, PROMPT_LEN), generator=gen)
        with torch.no_grad():
            g = model.generate(cand, max_new_tokens=GREEDY_TOKENS, do_sample=False, eos_token_id=None,
                               pad_token_id=0, min_new_tokens=GREEDY_TOKENS, output_scores=True,
                               return_dict_in_generate=True)
        scores = torch.stack(g.scores)[:, 0]
        top2 = torch.topk(scores, 2, dim=-1).values
        m = ((top2[:, 0] - top2[:, 1]) / scores.abs().max()).min().item()
        if best is None or m > best[0]:
            best = (m, cand)
    greedy_margin, prompt = best
    decode_ids = torch.randint(3, VOCAB, (DECODE_STEPS,), generator=gen)
    with torch.no_grad():
        out = model(prompt, use_cache=True)
        prompt_logits = out.logits[0].clone()
        past = out.past_key_values
        decode_logits = []
        for t in decode_ids.tolist():
            o = model(torch.tensor([[t]]), past_key_values=past, use_cache=True)
            past = o.past_key_values
            decode_logits.append(o.logits[0, -1].clone())
        decode_logits = torch.stack(decode_logits)
        greedy = model.generate(prompt, max_new_tokens=GREEDY_TOKENS, do_sample=False,
                                eos_token_id=None, pad_token_id=0, min_new_tokens=GREEDY_TOKENS)
    continuation = greedy[0, PROMPT_LEN:].tolist()

    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    model.to(store_dtype).save_pretrained(d, safe_serialization=True)
    for extra_file in ("generation_config.json",):
        p = os.path.join(d, extra_file)
        if os.path.exists(p):
            os.remove(p)
    top2 = torch.topk(torch.cat([prompt_logits, decode_logits]), 2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    expected = {
        "architecture": name,
        "storage_dtype": str(store_dtype).replace("torch.", ""),
        "prompt_ids": prompt[0].tolist(),
        "decode_ids": decode_ids.tolist(),
        "greedy_continuation": continuation,
        "min_top1_margin": margin,
        "greedy_min_relative_margin": greedy_margin,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": seed,
    }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    save_file({"prompt_logits": prompt_logits.contiguous(), "decode_logits": decode_logits.contiguous()},
              os.path.join(d, "expected_logits.safetensors"))
    print(f"{name}: stored {store_dtype}, logit range {prompt_logits.min():.2f}..{prompt_logits.max():.2f}, "
          f"min top1 margin {margin:.4f}, greedy path margin {greedy_margin:.4f} of max logit, greedy {continuation[:8]}...")
    with open(os.path.join(d, "config.json")) as f:
        print("  config:", f.read().replace("\n", " ")[:600])


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    torch.set_grad_enabled(False)
    for i, name in enumerate(FIXTURES):
        make(name, out_root, seed=1234 + i)


if __name__ == "__main__":
    main()
