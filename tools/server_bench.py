#!/usr/bin/env python3
"""Serving benchmark for an OpenAI-compatible server (llmr serve, llama.cpp's server, vLLM).

Throughput (default): for each client count, that many threads each send one streamed
/v1/completions at once, with a prompt of about --prompt-tokens tokens that differs from every other
prompt from its first token on (so the prefix cache cannot help), ignore_eos and --max-tokens new
tokens. Prints a markdown table: generated tokens/s summed over clients (all completion tokens over
the round's wall time), p50/p99 time to first token, p50 inter-token time, errors.

--prefix: rounds of --prefix-requests requests sent one after another that share a --prefix-tokens
prefix (new each round) and differ in a --tail-tokens tail: the first of a round meets a cold cache,
the rest a warm one. Prints TTFT cold vs warm and /metrics' prefix-cache hit counter before/after.

Python 3 standard library only (threads + http.client), so it runs where there is no node.
  tools/server_bench.py http://127.0.0.1:8080 --clients 1,8,16,32,64 --prompt-tokens 512 --max-tokens 128
  tools/server_bench.py http://127.0.0.1:8080 --prefix --prefix-tokens 448 --tail-tokens 64
"""
import argparse
import http.client
import json
import math
import os
import random
import sys
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    def __init__(self, url, model, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            sys.exit(f"server_bench: URL must be http://HOST:PORT, not {url!r}")
        self.host, self.port, self.model, self.timeout = u.hostname, u.port or 80, model, timeout

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def get(self, path):
        c = self.connect()
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode("utf-8", "replace")
            if r.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:200]}")
            return body
        finally:
            c.close()

    def complete(self, prompt, max_tokens):
        """One non-streamed completion; returns the response JSON."""
        c = self.connect()
        try:
            body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
            c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            if r.status != 200:
                raise RuntimeError(f"POST /v1/completions: HTTP {r.status}: {text[:300]}")
            return json.loads(text)
        finally:
            c.close()

    def stream(self, prompt, max_tokens, seed):
        """One streamed completion: times of the request, each token chunk and the end, and usage."""
        out = {"token_times": [], "usage": None, "error": None}
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.8, "seed": seed,
                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
        c = self.connect()
        out["start"] = time.perf_counter()
        try:
            c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            if r.status != 200:
                out["error"] = f"HTTP {r.status}: {r.read()[:200]!r}"
                return out
            for raw in r:  # http.client undoes the chunked encoding; SSE events are "data: ...\n\n"
                line = raw.strip()
                if not line.startswith(b"data: "):
                    continue
                now = time.perf_counter()
                data = line[6:]
                if data == b"[DONE]":
                    break
                j = json.loads(data)
                if "error" in j:
                    out["error"] = str(j["error"])[:200]
                    break
                if j.get("usage"):
                    out["usage"] = j["usage"]
                for choice in j.get("choices", []):
                    if choice.get("finish_reason") is None:  # one chunk per generated token
                        out["token_times"].append(now)
        except Exception as e:  # a dropped connection or a timeout is this request's error
            out["error"] = f"{type(e).__name__}: {e}"
        finally:
            out["end"] = time.perf_counter()
            c.close()
        if not out["error"] and not out["usage"]:
            out["error"] = "no usage in the stream"
        elif not out["error"] and not out["token_times"]:
            out["error"] = "no token chunks in the stream"
        return out


def percentile(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def ms(x):
    return "-" if x is None else f"{x * 1000:,.0f}" if x >= 0.1 else f"{x * 1000:.1f}"


class Prompts:
    """Prompts of about N tokens cut from a text at different places, each opening with its own number."""

    def __init__(self, server, text_path):
        with open(text_path, encoding="utf-8") as f:
            self.words = f.read().split()
        if len(self.words) < 100:
            sys.exit(f"server_bench: {text_path} has too little text")
        # Opening words: distinct words of the text, so prompts differ from the first token on.
        self.openers = sorted({w.strip(".,;:!?()'") for w in self.words if w.strip(".,;:!?()'").isalpha()})
        # Numbers new to this run, so a second run against the same server meets no cached prefix.
        self.next = random.randrange(1, 1000) * 100000
        # Token costs as the server counts them (usage.prompt_tokens): BOS and the like, the opening
        # word and number, and words of the text at four places (short: a small model's context may be 256).
        count = lambda text: server.complete(text, 1)["usage"]["prompt_tokens"]
        self.fixed = count(self.words[0]) - 1
        self.opener = sum(count(self.opening(self.fresh())) - self.fixed for _ in range(3)) / 3
        places = [len(self.words) * k // 4 for k in range(4)]
        self.tokens_per_word = sum(count(" ".join(self.cut(p, 120))) - self.fixed for p in places) / (4 * 120)

    def opening(self, nonce):
        return f"{self.openers[nonce % len(self.openers)]} {nonce}:"

    def cut(self, start, n):
        return [self.words[(start + i) % len(self.words)] for i in range(n)]

    def text(self, tokens, nonce):
        """About `tokens` tokens: an opening word and the number, then words from a place that depends on it."""
        n = max(1, round((tokens - self.fixed - self.opener) / self.tokens_per_word))
        return self.opening(nonce) + " " + " ".join(self.cut((nonce * 7919) % len(self.words), n))

    def fresh(self):
        """A number no earlier prompt of this run started with."""
        self.next += 1
        return self.next


def throughput(server, prompts, args, seed):
    print(f"Generated tokens/s summed over clients; each client streams one /v1/completions of about "
          f"{args.prompt_tokens} prompt tokens (distinct from the first token) and {args.max_tokens} new tokens "
          f"(ignore_eos, temperature 0.8); TTFT and inter-token times as the client sees them.\n")
    print("| clients | prompt tokens (mean) | generated tok/s (sum) | p50 TTFT ms | p99 TTFT ms | p50 inter-token ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    hits_before = prefix_hits(server)
    for n in args.clients:
        work = [(prompts.text(args.prompt_tokens, prompts.fresh()), seed + i) for i in range(n)]
        results = [None] * n
        gate = threading.Barrier(n + 1)

        def client(i):
            gate.wait()
            results[i] = server.stream(work[i][0], args.max_tokens, work[i][1])

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        gate.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        ok = [r for r in results if not r["error"]]
        errors = [r["error"] for r in results if r["error"]]
        short = [r for r in ok if r["usage"]["completion_tokens"] != args.max_tokens]
        if short:
            errors.append(f"{len(short)} requests generated other than {args.max_tokens} tokens "
                          f"(e.g. {short[0]['usage']['completion_tokens']}): is ignore_eos honoured?")
        generated = sum(r["usage"]["completion_tokens"] for r in ok)
        ttft = [r["token_times"][0] - r["start"] for r in ok]
        gaps = [b - a for r in ok for a, b in zip(r["token_times"], r["token_times"][1:])]
        prompt_tokens = [r["usage"]["prompt_tokens"] for r in ok]
        mean_prompt = f"{sum(prompt_tokens) / len(prompt_tokens):.0f}" if prompt_tokens else "-"
        row = (n, mean_prompt, f"{generated / wall:,.1f}", ms(percentile(ttft, 50)), ms(percentile(ttft, 99)),
               ms(percentile(gaps, 50)), str(len(errors)))
        rows.append(row)
        print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
        for e in sorted(set(errors))[:3]:
            print(f"  error: {e}", file=sys.stderr)
        seed += n
        if prompt_tokens and (min(prompt_tokens) < 0.8 * args.prompt_tokens or max(prompt_tokens) > 1.2 * args.prompt_tokens):
            print(f"  note: prompt tokens ranged {min(prompt_tokens)}..{max(prompt_tokens)}", file=sys.stderr)
    hits_after = prefix_hits(server)
    if hits_before is not None and hits_after is not None:
        print(f"\nPrefix-cache hits during these rounds: {hits_after - hits_before:.0f} KV blocks (distinct prompts: 0 expected).")
    return rows


def prefix_hits(server):
    try:
        text = server.get("/metrics")
    except (OSError, RuntimeError):
        return None
    for line in text.splitlines():
        if line.startswith("llmr_prefix_cache_hits_total "):
            return float(line.split()[1])
    return None


def prefix_bench(server, prompts, args, seed):
    before = prefix_hits(server)
    cold, warm, errors, prompt_tokens = [], [], [], []
    for _ in range(args.prefix_rounds):
        prefix = prompts.text(args.prefix_tokens, prompts.fresh())
        for k in range(args.prefix_requests):
            tail = prompts.text(args.tail_tokens, prompts.fresh())
            r = server.stream(prefix + "\n" + tail, args.prefix_max_tokens, seed)
            seed += 1
            if r["error"]:
                errors.append(r["error"])
                continue
            prompt_tokens.append(r["usage"]["prompt_tokens"])
            (cold if k == 0 else warm).append(r["token_times"][0] - r["start"])
    after = prefix_hits(server)
    mean_prompt = sum(prompt_tokens) / max(1, len(prompt_tokens))
    print(f"Prefix cache: {args.prefix_rounds} rounds of {args.prefix_requests} requests sent one after another, "
          f"each round a new prefix of about {args.prefix_tokens} tokens plus a distinct tail of about "
          f"{args.tail_tokens} (mean prompt {mean_prompt:.0f} tokens), {args.prefix_max_tokens} new tokens each; "
          f"the first request of a round meets a cold cache, the others a warm one.\n")
    print("| cache | requests | p50 TTFT ms | mean TTFT ms |")
    print("|---|---:|---:|---:|")
    for name, xs in (("cold (first of a round)", cold), ("warm (shared prefix cached)", warm)):
        mean = sum(xs) / len(xs) if xs else None
        print(f"| {name} | {len(xs)} | {ms(percentile(xs, 50))} | {ms(mean)} |")
    if cold and warm:
        print(f"\nWarm/cold p50 TTFT: {percentile(warm, 50) / percentile(cold, 50):.2f} "
              f"({percentile(cold, 50) / percentile(warm, 50):.1f}x faster to first token).")
    if before is None or after is None:
        print("\n/metrics has no llmr_prefix_cache_hits_total (not an llmr server?).")
    else:
        print(f"\nllmr_prefix_cache_hits_total (KV blocks reused): {before:.0f} before, {after:.0f} after "
              f"(+{after - before:.0f} over {len(warm)} warm requests).")
    if errors:
        print(f"\n{len(errors)} errors, e.g. {errors[0]}")
    return len(errors)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="http://HOST:PORT of the server")
    p.add_argument("--clients", default="1,8,16,32,64", help="comma-separated concurrent client counts")
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--prefix", action="store_true", help="run the prefix-cache benchmark instead")
    p.add_argument("--prefix-tokens", type=int, default=448)
    p.add_argument("--tail-tokens", type=int, default=64)
    p.add_argument("--prefix-requests", type=int, default=8, help="requests per round (one cold, the rest warm)")
    p.add_argument("--prefix-rounds", type=int, default=4)
    p.add_argument("--prefix-max-tokens", type=int, default=8)
    p.add_argument("--model", default=None, help="model name to send (default: the server's first in /v1/models)")
    p.add_argument("--text", default=os.path.join(REPO, "models", "kjv-validation.txt"), help="text prompts are cut from")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=600, help="seconds a request may take")
    args = p.parse_args()
    try:
        args.clients = [int(x) for x in args.clients.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"server_bench: --clients must be numbers separated by commas, not {args.clients!r}")
    for name in ("prompt_tokens", "max_tokens", "prefix_tokens", "tail_tokens", "prefix_requests", "prefix_rounds",
                 "prefix_max_tokens"):
        if getattr(args, name) < 1:
            sys.exit(f"server_bench: --{name.replace('_', '-')} must be at least 1")
    if not args.clients or min(args.clients) < 1:
        sys.exit("server_bench: --clients needs positive counts")

    server = Server(args.url, args.model, args.timeout)
    if server.model is None:
        server.model = json.loads(server.get("/v1/models"))["data"][0]["id"]
    prompts = Prompts(server, args.text)
    # One request first, so start-up costs (first allocations, graph capture) fall outside the figures.
    warm = server.stream(prompts.text(args.tail_tokens if args.prefix else args.prompt_tokens, prompts.fresh()),
                         min(args.max_tokens, 8), args.seed)
    if warm["error"]:
        sys.exit(f"server_bench: the warm-up request failed: {warm['error']}")
    errors = prefix_bench(server, prompts, args, args.seed) if args.prefix else \
        sum(int(r[-1]) for r in throughput(server, prompts, args, args.seed))
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        sys.exit(f"server_bench: {type(e).__name__}: {e}")
