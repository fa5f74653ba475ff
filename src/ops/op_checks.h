#pragma once
// Shape and type validation of the ops, shared by every backend so they reject the same inputs
// with the same messages: each names the op and the shapes at fault.
#include <cstdint>
#include <span>
#include <string>

#include "ops/backend.h"
#include "tensor/tensor.h"

namespace llmr::op_checks {

// Throws Error("<op>: <what> is on the wrong device ...") unless t lives on `device`.
void check_device(const char* op, const char* what, const Tensor& t, Device device);

// Each returns normally when the arguments are valid for the op, else throws llmr::Error.
void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y);
void rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                       const Tensor& sum, const Tensor& y);
void rope(const Tensor& x, int n_heads, std::span<const int32_t> positions, const RopeSpec& spec);
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
               std::span<const int32_t> positions, const AttentionSpec& spec, const Tensor& out);
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out);
void add(const Tensor& a, const Tensor& b, const Tensor& out);
void softmax(const Tensor& x);
void copy(const Tensor& src, const Tensor& dst);
// Shapes and types only: the positions' values may live in device memory (checked where read).
void store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions);
// Shapes and types of attention_paged's arguments (the index values may live in device memory).
void attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                     const Tensor& block_table, int64_t block_size, const AttentionSpec& spec, const Tensor& out);
// An I32 index tensor of `count` entries, contiguous (ids or positions of the *_from ops).
void index_tensor(const char* op, const char* what, const Tensor& t, int64_t count);

}  // namespace llmr::op_checks
