#pragma once
// The decoder-only transformer forward pass (Llama, Mistral, Qwen2, Qwen3), written as calls to ops.
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "model/kv_cache.h"
#include "model/kv_store.h"
#include "model/model_weights.h"
#include "ops/backend.h"

namespace llmr {

// Where a forward pass leaves its logits: downloaded to host memory, or in the backend's memory (for
// Backend::sample, so only the chosen ids cross to the host; the same as Host on host backends).
enum class LogitsAt { Host, Backend };

// Which logits a sequence of a forward pass wants back.
enum class LogitRows { None, Last, All };

// New tokens of one sequence at positions pos0, pos0+1, ...; `seq` names it in the KvStore.
struct SequenceChunk {
  std::span<const int32_t> tokens;
  int64_t pos0 = 0;
  size_t seq = 0;
  LogitRows logits = LogitRows::Last;
};

class Transformer {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, Backend& backend);
  ~Transformer();

  // Runs several sequences in one pass: the matmuls over all their rows at once, attention per
  // sequence over its keys in `kv`. Returns the logits (in host memory unless `at` says otherwise),
  // the rows each chunk asked for in chunk order; the view stays valid until the next call.
  Tensor forward(std::span<const SequenceChunk> chunks, KvStore& kv, LogitsAt at = LogitsAt::Host);

  // One sequence: logits [T, vocab] when all_logits, else [1, vocab] for the last token. Single-token
  // steps replay a recorded graph of the whole step on backends that can record (CUDA graphs): the
  // first step with a given cache runs directly; after it, the first step of each span of positions
  // (decode_span) records, later ones replay.
  Tensor forward(std::span<const int32_t> tokens, int64_t pos0, KvCache& cache, bool all_logits = false,
                 LogitsAt at = LogitsAt::Host);

  // Whether single-token steps may replay a recorded graph. The default comes from LLMR_CUDA_GRAPHS
  // (on unless it is "0").
  void set_decode_graphs(bool on);
  bool decode_graphs() const { return graphs_on_; }
  // Steps served by replaying a recorded graph so far (for tests and benchmarks).
  int64_t graph_replays() const { return graph_replays_; }
  // The kernels of the recorded step replayed last (0: none recorded, or the backend does not say).
  int64_t graph_kernels() const;
  // The kernels of the recorded step replayed last, each run alone (Replay::time_kernels): empty when
  // none was recorded. Leaves the cache's contents undefined.
  std::vector<KernelTime> time_step_kernels(int reps);
  // The recorded step replayed last, with and without each group of its kernels
  // (Replay::knockout_kernels): empty when none was recorded. Leaves the cache's contents undefined.
  std::vector<KernelKnockout> knockout_step_kernels(int reps);
  // Steps recorded so far: one per span of positions (decode_span) and set of buffers.
  int64_t graphs_recorded() const { return graphs_recorded_; }

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }

 private:
  struct Scratch;  // activations for up to `capacity_` rows, logits for up to `out_capacity_`
  struct DecodeGraph;  // a recorded single-token step for one span of positions
  void drop_graphs();  // the recorded steps and the buffers they address
  // How a pass's per-row inputs reach the ops: the embedding, and per layer rope of q and k, the KV
  // write and attention.
  struct StepInputs {
    std::function<void(const Tensor& x)> embed;
    // x += wo · attention(rope(q), rope(k), v) with the KV cache written (unless `project` did: roped);
    // attn: scratch for the attention output
    std::function<void(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn,
                       const Tensor& wo, const Tensor& x, bool roped)>
        attend;
    // Optional (a decode step): qkv = norm(x) · Wqkv with q and k rotated and k, v written to the KV
    // cache in the same op, where q|k|v is one stacked product and no per-head norm comes between.
    std::function<void(int64_t layer, const Tensor& x, const Tensor& norm_w, const Tensor& h, const Tensor& wqkv,
                       const Tensor& qkv)>
        project;
  };
  // Embedding and every layer over rows [0, T) of the scratch activations (x holds the result).
  void run_layers(int64_t T, const StepInputs& in);
  // logits = W_out · norm(last); last: rows of x (or of `selected`). Into `into` where given (the
  // backend's view of pinned host memory), else the scratch logits in the backend's memory.
  Tensor output_head(const Tensor& last, const Tensor& into = {});
  Tensor to_host(const Tensor& logits);
  Tensor forward_graph(int32_t token, int64_t pos, KvCache& cache, LogitsAt at);
  void reserve(int64_t n_rows, int64_t n_out);
  Tensor place(const Tensor& host_weight);  // the weight in the backend's memory
  Tensor place_matmul(const Tensor& host_weight);  // a matrix only matmuls read (may be repacked)
  // The matrices' rows one after another, as one weight in the backend's memory (upload_copies only).
  Tensor place_stacked(std::initializer_list<const Tensor*> parts);

  const ModelConfig& config_;
  ModelWeights weights_;  // views of the backend's copies (the file's mapping itself on the CPU)
  Backend& backend_;
  std::vector<std::unique_ptr<Buffer>> placed_;
  std::vector<float> inv_freq_;
  std::unique_ptr<Scratch> scratch_;
  int64_t capacity_ = 0, out_capacity_ = 0;
  bool stacked_ = false;  // some layer's q/k/v or gate/up weights are stacked (scratch for their outputs)
  bool graphs_on_ = false;
  int64_t graph_replays_ = 0, graphs_recorded_ = 0;
  std::vector<const void*> graph_buffers_;  // the KV and scratch buffers the recorded steps address
  // By span (the cache rows attention reads) and whether the logits are wanted in host memory.
  std::map<std::pair<int64_t, bool>, std::unique_ptr<DecodeGraph>> graphs_;
  DecodeGraph* last_graph_ = nullptr;  // replayed last
};

}  // namespace llmr
