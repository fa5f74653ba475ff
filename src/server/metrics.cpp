#include "server/metrics.h"

#include <cstdio>

namespace llmr::server {

void RequestMetrics::count(const std::string& route, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
}

namespace {

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram(std::string& out, const char* name, const char* help, const LatencyHistogram& h) {
  metric(out, name, "histogram", help);
  int64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out += std::string(name) + "_bucket{le=\"" + num(h.bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += h.counts.back();
  out += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += std::string(name) + "_sum " + num(h.sum) + "\n";
  out += std::string(name) + "_count " + std::to_string(h.count) + "\n";
}

}  // namespace

std::string RequestMetrics::render(const SchedulerStats& s) const {
  std::string out;
  metric(out, "llmr_requests_total", "counter", "HTTP requests by route and status.");
  {
    std::lock_guard lock(mu_);
    for (auto& [key, n] : requests_)
      out += "llmr_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
             std::to_string(n) + "\n";
  }
  auto scalar = [&](const char* name, const char* type, const char* help, int64_t v) {
    metric(out, name, type, help);
    out += std::string(name) + " " + std::to_string(v) + "\n";
  };
  scalar("llmr_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", s.prompt_tokens);
  scalar("llmr_generated_tokens_total", "counter", "Tokens generated.", s.generated_tokens);
  scalar("llmr_scheduler_steps_total", "counter", "Batched forward steps.", s.steps);
  scalar("llmr_sequences_finished_total", "counter", "Sequences that ended normally.", s.finished);
  scalar("llmr_sequences_cancelled_total", "counter", "Sequences cancelled (stop sequence, disconnect).", s.cancelled);
  scalar("llmr_sequences_failed_total", "counter", "Sequences that failed.", s.failed);
  scalar("llmr_queue_depth", "gauge", "Sequences waiting for a batch slot.", s.queue_depth);
  scalar("llmr_running_batch_size", "gauge", "Sequences in the running batch.", s.running);
  scalar("llmr_kv_blocks_total", "gauge", "KV cache blocks in the pool.", s.kv.total);
  scalar("llmr_kv_blocks_used", "gauge", "KV cache blocks held by sequences.", s.kv.used);
  scalar("llmr_kv_blocks_free", "gauge", "KV cache blocks free (including cached prefixes).", s.kv.free);
  scalar("llmr_kv_blocks_cached", "gauge", "Free KV blocks still holding a reusable prefix.", s.kv.cached);
  scalar("llmr_prefix_cache_hits_total", "counter", "KV blocks reused from the prefix cache.", s.kv.prefix_hits);
  histogram(out, "llmr_time_to_first_token_seconds", "From submission to the first generated token.", s.ttft);
  histogram(out, "llmr_inter_token_latency_seconds", "Between consecutive tokens of one sequence.", s.inter_token);
  return out;
}

}  // namespace llmr::server
