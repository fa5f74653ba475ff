#include "ops/op_checks.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace llmr::op_checks {
namespace {

std::string shapes(std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  std::string s;
  for (const auto& [name, t] : ts) s += std::string(s.empty() ? "" : ", ") + name + " " + t->describe();
  return s;
}

[[noreturn]] void fail(const char* op, const std::string& what) { throw Error(std::string(op) + ": " + what); }

// Rows must be addressable as row(r): contiguous elements, leading dims flattenable, data present.
void check_layout(const char* op, const char* what, const Tensor& t) {
  if (t.ndim < 1 || t.ndim > kMaxDims) fail(op, std::string(what) + " has no shape");
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] < 0) fail(op, std::string(what) + " " + t.describe() + " has a negative dimension");
  if (t.stride[t.ndim - 1] != int64_t(info(t.type).block_bytes))
    fail(op, std::string(what) + " " + t.describe() + " must have contiguous elements within a row");
  for (int i = 0; i + 2 < t.ndim; ++i)
    if (t.stride[i] != t.stride[i + 1] * t.shape[i + 1])
      fail(op, std::string(what) + " " + t.describe() + " cannot be flattened to rows");
  if (t.ndim >= 2 && t.rows() > 1 && t.row_stride() < int64_t(row_bytes(t.type, t.cols())))
    fail(op, std::string(what) + " " + t.describe() + " has rows that overlap (row stride " +
                 std::to_string(t.row_stride()) + " bytes)");
  if (t.numel() > 0 && t.data == nullptr) fail(op, std::string(what) + " " + t.describe() + " has no data");
}

void check_type(const char* op, const char* what, const Tensor& t, std::initializer_list<DType> allowed) {
  for (DType a : allowed)
    if (t.type == a) return;
  std::string names;
  for (DType a : allowed) names += std::string(names.empty() ? "" : " or ") + name(a);
  fail(op, std::string(what) + " " + t.describe() + " must be " + names);
}

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name,
                      const Tensor& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    fail(op, "shapes differ: " + shapes({{a_name, &a}, {b_name, &b}}));
}

// A q8_0 row (KV cache) is stored in blocks of 32: every head (of `unit` elements) must be whole blocks.
void check_whole_blocks(const char* op, const char* what, const Tensor& t, int64_t unit) {
  if (t.type != DType::Q8_0) return;
  const int64_t block = info(t.type).block_elems;
  if (unit <= 0 || unit % block != 0 || t.cols() % block != 0)
    fail(op, std::string(what) + " " + t.describe() + " is q8_0, which needs head_dim and rows in whole blocks of " +
                 std::to_string(block) + " (head_dim " + std::to_string(unit) + ")");
}

void check_eps(const char* op, float eps) {
  if (!(std::isfinite(eps) && eps >= 0)) fail(op, "eps must be finite and >= 0, got " + std::to_string(eps));
}

void check_norm_weight(const char* op, const Tensor& x, const Tensor& w) {
  check_layout(op, "w", w);
  check_type(op, "w", w, {DType::F32});
  if (w.rows() != 1 || w.cols() != x.cols())
    fail(op, "w must be [" + std::to_string(x.cols()) + "] for " + shapes({{"x", &x}, {"w", &w}}));
  if (x.cols() == 0) fail(op, "x " + x.describe() + " has empty rows");
}

}  // namespace

void check_device(const char* op, const char* what, const Tensor& t, Device device) {
  if (t.device != device)
    fail(op, std::string(what) + " " + t.describe() + " is on the " +
                 (t.device == Device::Cuda ? "GPU" : "host") + ", this backend needs it on the " +
                 (device == Device::Cuda ? "GPU" : "host"));
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  const char* op = "rms_norm";
  check_layout(op, "x", x);
  check_layout(op, "y", y);
  check_type(op, "x", x, {DType::F32, DType::F16, DType::BF16});
  if (y.type != x.type) fail(op, "y must have x's type: " + shapes({{"x", &x}, {"y", &y}}));
  check_same_shape(op, "x", x, "y", y);
  check_norm_weight(op, x, w);
  check_eps(op, eps);
}

void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                       const Tensor& sum, const Tensor& y) {
  const char* op = "rms_norm_residual";
  check_layout(op, "x", x);
  check_layout(op, "residual", residual);
  check_layout(op, "sum", sum);
  check_layout(op, "y", y);
  check_type(op, "x", x, {DType::F32, DType::F16, DType::BF16});
  for (auto [n, t] : {std::pair{"residual", &residual}, {"sum", &sum}, {"y", &y}}) {
    if (t->type != x.type) fail(op, std::string(n) + " must have x's type: " + shapes({{"x", &x}, {n, t}}));
    check_same_shape(op, "x", x, n, *t);
  }
  check_norm_weight(op, x, w);
  check_eps(op, eps);
}

void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec) {
  const char* op = "rope";
  check_layout(op, "x", x);
  check_type(op, "x", x, {DType::F32});
  if (n_heads <= 0 || spec.head_dim <= 0)
    fail(op, "n_heads (" + std::to_string(n_heads) + ") and head_dim (" + std::to_string(spec.head_dim) +
                 ") must be positive");
  if (x.cols() != int64_t(n_heads) * spec.head_dim)
    fail(op, "x " + x.describe() + " must have n_heads * head_dim = " + std::to_string(n_heads) + " * " +
                 std::to_string(spec.head_dim) + " columns");
  if (spec.rot_dims <= 0 || spec.rot_dims > spec.head_dim || spec.rot_dims % 2 != 0)
    fail(op, "rot_dims " + std::to_string(spec.rot_dims) + " must be even and in 1.." +
                 std::to_string(spec.head_dim) + " (head_dim)");
  if (spec.inv_freq == nullptr) fail(op, "inv_freq is missing");
  if (int64_t(positions.size()) != x.rows())
    fail(op, std::to_string(positions.size()) + " positions for x " + x.describe() + " (one per row)");
  for (size_t i = 0; i < positions.size(); ++i)
    if (positions[i] < 0) fail(op, "position " + std::to_string(positions[i]) + " of row " + std::to_string(i) + " is negative");
}

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
               std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out) {
  const char* op = "attention";
  check_layout(op, "q", q);
  check_layout(op, "k_cache", k_cache);
  check_layout(op, "v_cache", v_cache);
  check_layout(op, "out", out);
  check_type(op, "q", q, {DType::F32});
  check_type(op, "out", out, {DType::F32});
  check_type(op, "k_cache", k_cache, {DType::F32, DType::F16, DType::Q8_0});
  check_type(op, "v_cache", v_cache, {DType::F32, DType::F16, DType::Q8_0});
  const std::string heads = "n_head " + std::to_string(spec.n_head) + ", n_kv_head " +
                            std::to_string(spec.n_kv_head) + ", head_dim " + std::to_string(spec.head_dim);
  if (spec.n_head <= 0 || spec.n_kv_head <= 0 || spec.head_dim <= 0)
    fail(op, "head counts and head_dim must be positive (" + heads + ")");
  if (spec.n_head % spec.n_kv_head != 0) fail(op, "n_head must be a multiple of n_kv_head (" + heads + ")");
  if (!std::isfinite(spec.scale)) fail(op, "scale must be finite");
  const int64_t q_cols = int64_t(spec.n_head) * spec.head_dim, kv_cols = int64_t(spec.n_kv_head) * spec.head_dim;
  if (q.cols() != q_cols) fail(op, "q " + q.describe() + " must have n_head * head_dim columns (" + heads + ")");
  check_same_shape(op, "q", q, "out", out);
  if (k_cache.cols() != kv_cols || v_cache.cols() != kv_cols)
    fail(op, "k_cache and v_cache must have n_kv_head * head_dim columns (" + heads + "): " +
                 shapes({{"k_cache", &k_cache}, {"v_cache", &v_cache}}));
  for (auto [n, t] : {std::pair{"k_cache", &k_cache}, {"v_cache", &v_cache}})
    check_whole_blocks(op, n, *t, spec.head_dim);
  if (k_cache.rows() != v_cache.rows())
    fail(op, "k_cache and v_cache hold different numbers of rows: " +
                 shapes({{"k_cache", &k_cache}, {"v_cache", &v_cache}}));
  if (int64_t(positions.size()) != q.rows())
    fail(op, std::to_string(positions.size()) + " positions for q " + q.describe() + " (one per row)");
  for (size_t i = 0; i < positions.size(); ++i)
    if (positions[i] < 0 || positions[i] >= k_cache.rows())
      fail(op, "position " + std::to_string(positions[i]) + " of row " + std::to_string(i) +
                   " is outside the cache " + k_cache.describe());
}

namespace {
void check_elementwise(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const auto& [first_name, first] = *ts.begin();
  for (const auto& [n, t] : ts) {
    check_layout(op, n, *t);
    check_type(op, n, *t, {DType::F32});
    check_same_shape(op, first_name, *first, n, *t);
  }
}
}  // namespace

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  check_elementwise("swiglu", {{"gate", &gate}, {"up", &up}, {"out", &out}});
}

void add(const Tensor& a, const Tensor& b, const Tensor& out) {
  check_elementwise("add", {{"a", &a}, {"b", &b}, {"out", &out}});
}

void softmax(const Tensor& x) { check_elementwise("softmax", {{"x", &x}}); }

void copy(const Tensor& src, const Tensor& dst) {
  const char* op = "copy";
  check_layout(op, "src", src);
  check_layout(op, "dst", dst);
  check_type(op, "src", src, {DType::F32, DType::F16, DType::BF16, DType::Q8_0});
  check_type(op, "dst", dst, {DType::F32, DType::F16, DType::BF16, DType::Q8_0});
  check_same_shape(op, "src", src, "dst", dst);
  check_whole_blocks(op, "src", src, src.cols());
  check_whole_blocks(op, "dst", dst, dst.cols());
}

void index_tensor(const char* op, const char* what, const Tensor& t, int64_t count) {
  check_layout(op, what, t);
  check_type(op, what, t, {DType::I32});
  if (t.numel() != count || !t.is_contiguous())
    fail(op, std::string(what) + " " + t.describe() + " must be " + std::to_string(count) + " contiguous entries");
}

void attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                     const Tensor& block_table, int64_t block_size, const AttentionSpec& spec, const Tensor& out) {
  const char* op = "attention_paged";
  if (block_size <= 0 || k_pool.rows() % block_size != 0)
    fail(op, "the pools' " + std::to_string(k_pool.rows()) + " rows are not whole blocks of " +
                 std::to_string(block_size));
  // Every shape check of attention, with each row taken to reach the pool's last row.
  const std::vector<int32_t> bound(size_t(q.rows()), int32_t(std::max<int64_t>(0, k_pool.rows() - 1)));
  attention(q, k_pool, v_pool, bound, spec, out);
  index_tensor(op, "positions", positions, q.rows());
  check_layout(op, "block_table", block_table);
  check_type(op, "block_table", block_table, {DType::I32});
  if (block_table.ndim != 2 || block_table.rows() != q.rows() || block_table.cols() < 1 || !block_table.is_contiguous())
    fail(op, "block_table " + block_table.describe() + " must be contiguous [" + std::to_string(q.rows()) +
                 ", max_blocks]");
}

void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  const char* op = "store_rows";
  check_layout(op, "src", src);
  check_layout(op, "dst", dst);
  check_type(op, "src", src, {DType::F32, DType::F16, DType::BF16});
  check_type(op, "dst", dst, {DType::F32, DType::F16, DType::BF16, DType::Q8_0});
  if (src.cols() != dst.cols()) fail(op, "rows differ in width: " + shapes({{"src", &src}, {"dst", &dst}}));
  check_whole_blocks(op, "dst", dst, dst.cols());
  index_tensor(op, "positions", positions, src.rows());
}

}  // namespace llmr::op_checks
