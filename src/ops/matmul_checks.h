#pragma once
// Shape and type validation shared by every backend's matmul and embedding, so all backends
// reject the same bad calls with the same messages.
#include <cstdint>
#include <span>

#include "tensor/tensor.h"

namespace llmr {

// x [T, in] f32, w [out, in] weight type (in a whole number of blocks), bias [out] f32 or null,
// y [T, out] f32, all on the host. Throws Error naming the shapes otherwise.
void check_matmul_args(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y);

// table [vocab, dim] weight type, out [ids.size(), dim] f32, every id in [0, vocab).
void check_embedding_args(const Tensor& table, std::span<const int32_t> ids, const Tensor& out);

// True for the types a weight matrix may have (f32, f16, bf16 and the quantized ones).
bool is_weight_type(DType t);

}  // namespace llmr
