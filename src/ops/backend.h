#pragma once
// The op interface of llmr. Every op of the forward pass is a method here; ops/reference holds the
// oracle, backend/cpu and backend/cuda the fast versions, and one battery of tests runs against each.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ops/sample_row.h"
#include "tensor/tensor.h"

namespace llmr {

enum class RopeLayout {
  Interleaved,  // rotates pairs (x[2i], x[2i+1]): llama.cpp's "normal" rope, GGUF llama files
  NeoX,         // rotates pairs (x[i], x[i + rot/2]): Hugging Face llama, qwen2, qwen3
};

struct RopeSpec {
  int head_dim = 0;
  int rot_dims = 0;                // leading dims of each head that rotate (== head_dim for llama)
  RopeLayout layout = RopeLayout::NeoX;
  const float* inv_freq = nullptr;  // rot_dims/2 angular frequencies, scaling already applied
};

struct AttentionSpec {
  int n_head = 0;
  int n_kv_head = 0;  // n_head is a multiple of it (GQA; 1 = MQA)
  int head_dim = 0;
  float scale = 0;    // usually 1/sqrt(head_dim)
};

// Memory that a backend's ops read and write: host memory for the CPU, device memory for CUDA.
class Buffer {
 public:
  virtual ~Buffer() = default;
  const Tensor& tensor() const { return tensor_; }

 protected:
  Tensor tensor_;
};

class Replay;  // recorded ops (Backend::end_capture), declared below

// Aligned host memory as a Buffer.
std::unique_ptr<Buffer> alloc_host(DType type, const std::vector<int64_t>& shape);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory management. The defaults serve host backends: alloc gives aligned host memory, upload
  // returns a view of the host tensor itself (no copy), download copies rows out.
  virtual std::unique_ptr<Buffer> alloc(DType type, const std::vector<int64_t>& shape);
  // A tensor these ops can read with the contents of `host` (a contiguous host tensor).
  virtual std::unique_ptr<Buffer> upload(const Tensor& host);
  // Whether upload() copies into this backend's own memory (then the host tensor may be a temporary,
  // and weights can be rearranged at load for free); false: upload() returns a view of the host tensor.
  virtual bool upload_copies() const { return false; }
  // A matrix that only matmul, matmul_add and swiglu_matmul_add will read (as w), from a contiguous
  // host tensor: the backend may rearrange it into an internal layout (is_internal(type)) that only
  // its matmul reads. Never given embedding tables or tensor-parallel shards. The default: upload().
  virtual std::unique_ptr<Buffer> upload_matmul_weight(const Tensor& host) { return upload(host); }
  // Copies a contiguous tensor of this backend's memory to host memory of the same size.
  virtual void download(const Tensor& src, void* host);
  // Waits for queued work (asynchronous backends).
  virtual void synchronize() {}

  // y = x / sqrt(mean(x^2) + eps) * w per row, fp32 accumulation.
  // x, y: [rows, n] of one type among f32, f16, bf16 (rows may be strided); w: [n] f32.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) = 0;

  // sum = x + residual, y = rms_norm(sum) * w, both from one pass. All of x's type but w (f32).
  virtual void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                                 const Tensor& sum, const Tensor& y) = 0;

  // out[t] = table[ids[t]] as f32; table [vocab, dim] of any weight type, out [T, dim] f32.
  virtual void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) = 0;

  // y = x * w^T (+ bias): x [T, in] f32, w [out, in] of any weight type, bias [out] f32 or null,
  // y [T, out] f32.
  virtual void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) = 0;

  // y = rms_norm(x, norm_w, eps) * w^T: a block's input norm and first projection. h [T, n] f32 may
  // receive the normalized rows on the way (the default's intermediate; a backend that fuses the two
  // need not write it). Shapes as rms_norm (f32 x) and matmul. The default: rms_norm into h, then matmul.
  virtual void rms_norm_matmul(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h, const Tensor& w,
                               const Tensor& y);

  // y += x * w^T: the product added into y in place (a residual stream's update); shapes as matmul,
  // no bias. The default runs matmul into a scratch tensor of this backend, then add.
  virtual void matmul_add(const Tensor& x, const Tensor& w, const Tensor& y);

  // y += swiglu(gate, up) * w^T: a SwiGLU feed-forward's down projection added into the residual
  // stream; gate, up [T, n] f32, w [out, n]. The default runs swiglu into a scratch tensor, then matmul_add.
  virtual void swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y);

  // x += attention_from(q, k_cache, v_cache, positions, spec) * w^T: a block's attention and output
  // projection, added into the residual stream x [T, out]. attn [T, n_head * head_dim] f32 may receive
  // the attention output on the way. The default: attention_from into attn, then matmul_add.
  virtual void attention_matmul_add(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                    const Tensor& positions, const AttentionSpec& spec, const Tensor& attn,
                                    const Tensor& w, const Tensor& x);

  // Rotates, in place, the first rot_dims of every head of x [T, n_heads * head_dim] (f32) by
  // positions[t] * inv_freq.
  virtual void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions,
                    const RopeSpec& spec) = 0;

  // Causal attention: out[t] (head h) = softmax(scale * q[t,h] . k[j,h/g]) v[j,h/g] over cache rows
  // j = 0 .. positions[t]. q, out: [T, n_head*head_dim] f32; k_cache, v_cache: [n_ctx,
  // n_kv_head*head_dim] f32 or f16.
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         std::span<const int32_t> positions, const AttentionSpec& spec,
                         const Tensor& out) = 0;

  // out = silu(gate) * up, elementwise; all [T, n] f32.
  virtual void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) = 0;

  // out = a + b, elementwise; all [T, n] f32.
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // Softmax of each row of x [rows, n] f32, in place.
  virtual void softmax(const Tensor& x) = 0;

  // dst = src converted to dst's type (f32 <-> f16 <-> bf16); same shape. Writes KV cache rows.
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;

  // dst[positions[t]] = src[t] converted to dst's type: src [T, n], dst [N, n] (f32, f16, bf16),
  // positions I32 [T] in this backend's memory, read when the op runs (a replayed graph's KV write).
  // The default serves host backends: copy() of each row to the row its position names.
  virtual void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions);

  // --- Ops whose ids / positions are an I32 [T] tensor in this backend's memory, read when the op
  // runs rather than when it is queued (so a replayed graph sees new values). The defaults serve host
  // backends: they read the tensor and call the op above. attention_from's caches may hold more rows
  // than positions reach.
  virtual void embedding_from(const Tensor& table, const Tensor& ids, const Tensor& out);
  virtual void rope_from(const Tensor& x, int n_heads, const Tensor& positions, const RopeSpec& spec);
  virtual void attention_from(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                              const AttentionSpec& spec, const Tensor& out);

  // One step's rotary embedding and KV cache write, fused: q and k rotated in place as rope_from
  // rotates them (heads of spec.head_dim), then rows t of k and v stored at cache rows positions[t]
  // as store_rows stores them. The default runs exactly those ops.
  virtual void rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                             const RopeSpec& spec, const Tensor& k_cache, const Tensor& v_cache);

  // A decode step's attention input in one op: qkv = rms_norm(x, norm_w, eps) * wqkv^T (as
  // rms_norm_matmul), then rope_store_kv on its column ranges q [0, q_dim), k [q_dim, q_dim + kv_dim)
  // and v [q_dim + kv_dim, q_dim + 2 kv_dim), q_dim = qkv's columns - 2 kv_dim. The default runs
  // exactly those two ops.
  virtual void rms_norm_matmul_rope_store_kv(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h,
                                             const Tensor& wqkv, const Tensor& qkv, int64_t kv_dim,
                                             const Tensor& positions, const RopeSpec& spec, const Tensor& k_cache,
                                             const Tensor& v_cache);

  // Attention of many sequences over a paged KV cache (the server's): row t of q is a query at
  // position positions[t] of the sequence whose block table is row t of block_table (I32 [T,
  // max_blocks]); that sequence's position p lives in row block_table[t][p / block_size] * block_size
  // + p % block_size of k_pool and v_pool. Causal as attention(). positions and block_table are in
  // this backend's memory, read when the op runs. The default serves host backends: it gathers each
  // run of rows sharing a block table into contiguous keys and values and calls attention().
  virtual void attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                               const Tensor& block_table, int64_t block_size, const AttentionSpec& spec,
                               const Tensor& out);

  // out[r] = the token ops/sample_row.h's definition picks from row r of logits [rows, vocab] (f32, in
  // this backend's memory; rows may be strided) with rows[r]'s settings and draw. Only the ids come
  // back to the host. The default serves host backends (and any other, through download): RowSampler
  // over each row. Backends that override it match the definition up to float summation order.
  virtual void sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<int32_t> out);

  // --- Recording a sequence of ops once and replaying it (CUDA graphs). Host backends cannot.
  // Host memory whose contents queued work reads when it runs, not when it is queued (pinned on CUDA,
  // so a replayed copy reads the values of that moment); the default is plain host memory.
  virtual std::unique_ptr<Buffer> alloc_host_input(DType type, const std::vector<int64_t>& shape) {
    return alloc_host(type, shape);
  }
  // Queues a copy of `host` (from alloc_host_input, same size) into dst of this backend's memory.
  virtual void copy_from_host_input(const Tensor& host, const Tensor& dst);
  // A view of `host` (from alloc_host_input) that this backend's ops may write as their output, so a
  // result lands in host memory as it is made, with no download after; empty (data null) where they
  // cannot. The host reads it after synchronize().
  virtual Tensor written_from_device(const Tensor& host) {
    (void)host;
    return {};
  }
  // Starts recording: ops queued until end_capture are recorded, not run. False: this backend cannot.
  virtual bool begin_capture() { return false; }
  // Ends recording; the result replays every recorded op, in order, on each call.
  virtual std::unique_ptr<Replay> end_capture();
  // Ends a recording that failed part way, discarding it.
  virtual void abort_capture() {}
};

// One kernel of a recorded step, run alone (Replay::time_kernels).
struct KernelTime {
  std::string name;     // the kernel's function, templates included
  int64_t blocks = 0;   // grid size
  int threads = 0;      // per block
  double microseconds = 0;  // median of the runs
};

// A group of a recorded step's kernels (one function, one launch shape) and the step's time with and
// without them (Replay::knockout_kernels): what they cost inside the step, overlap included.
struct KernelKnockout {
  std::string name;
  int64_t blocks = 0;
  int threads = 0;
  int count = 0;           // kernels in the group
  double step_us = 0;      // median step
  double without_us = 0;   // median step with the group's kernels disabled
};

// Recorded ops (end_capture); replay() queues them all again.
class Replay {
 public:
  virtual ~Replay() = default;
  virtual void replay() = 0;
  // The kernels one replay launches (0 where the backend does not know), for benchmarks' reports.
  virtual int64_t kernels() const { return 0; }
  // Each kernel of the recording in order, launched alone `reps` times with the cache emptied before
  // each run (weights come from memory, as in a step): the median time of each, for a step's
  // breakdown. Empty where the backend cannot. What the step writes (KV cache, activations) is left
  // undefined: for benchmarks after their timed runs.
  virtual std::vector<KernelTime> time_kernels(int reps) { return {}; }
  // Replays of the step with, then without, each group of its kernels (reps of each, medians): the
  // step's time a group costs. The disabled kernels' outputs are left undefined, as above.
  virtual std::vector<KernelKnockout> knockout_kernels(int reps) { return {}; }
};

}  // namespace llmr
