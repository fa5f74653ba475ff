// attention_paged: several sequences' queries over one pool of KV blocks, each through its block
// table (blocks in random order, other sequences' and stale rows between them), against the
// reference attention over each sequence's keys laid out contiguously; bad tables rejected.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "ops/op_battery.h"

namespace llmr::testing {
namespace {

class AttentionPagedBattery : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& impl() { return op_impl(GetParam()); }
};

struct Sequence {
  int64_t length;  // positions cached, including this step's rows
  int64_t rows;    // query rows this step: the last `rows` positions
};

void run_case(Backend& b, const std::vector<Sequence>& seqs, int64_t block_size, int n_head, int n_kv, int hd,
              DType kv_type, const std::string& who) {
  const AttentionSpec spec{n_head, n_kv, hd, 1.f / std::sqrt(float(hd))};
  const int64_t qc = int64_t(n_head) * hd, kvc = int64_t(n_kv) * hd;
  int64_t T = 0, max_blocks = 1, used = 0;
  for (const Sequence& s : seqs) {
    T += s.rows;
    const int64_t n = (s.length + block_size - 1) / block_size;
    max_blocks = std::max(max_blocks, n);
    used += n;
  }
  const int64_t pool_blocks = used + 3;  // spare blocks hold stale rows no table names
  Strided k_pool(kv_type, pool_blocks * block_size, kvc), v_pool(kv_type, pool_blocks * block_size, kvc);
  k_pool.randomize(-1.f, 1.f);
  v_pool.randomize(-2.f, 2.f);
  std::vector<int32_t> order(static_cast<size_t>(pool_blocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng());

  Strided q(DType::F32, T, qc, 3), out(DType::F32, T, qc, 5), expect(DType::F32, T, qc);
  q.randomize(-3.f, 3.f);
  std::vector<int32_t> positions, table;
  size_t next = 0;
  int64_t row = 0;
  for (const Sequence& s : seqs) {
    const int64_t n = (s.length + block_size - 1) / block_size;
    std::vector<int32_t> blocks(order.begin() + int64_t(next), order.begin() + int64_t(next + size_t(n)));
    next += size_t(n);
    // The sequence's keys and values, contiguous, as the reference sees them.
    Strided k(kv_type, s.length, kvc), v(kv_type, s.length, kvc);
    for (int64_t p = 0; p < s.length; ++p) {
      const int64_t src = int64_t(blocks[size_t(p / block_size)]) * block_size + p % block_size;
      reference().copy(k_pool.t().slice_rows(src, 1), k.t().slice_rows(p, 1));
      reference().copy(v_pool.t().slice_rows(src, 1), v.t().slice_rows(p, 1));
    }
    std::vector<int32_t> pos;
    for (int64_t p = s.length - s.rows; p < s.length; ++p) pos.push_back(int32_t(p));
    reference().attention(q.t().slice_rows(row, s.rows), k.t(), v.t(), pos, spec, expect.t().slice_rows(row, s.rows));
    blocks.resize(size_t(max_blocks), blocks[0]);  // padding entries are never read
    for (int64_t r = 0; r < s.rows; ++r) table.insert(table.end(), blocks.begin(), blocks.end());
    positions.insert(positions.end(), pos.begin(), pos.end());
    row += s.rows;
  }
  const Tensor pos_t = Tensor::view(positions.data(), DType::I32, {T});
  const Tensor table_t = Tensor::view(table.data(), DType::I32, {T, max_blocks});
  b.attention_paged(q.t(), k_pool.t(), v_pool.t(), pos_t, table_t, block_size, spec, out.t());
  std::string what = who + " block " + std::to_string(block_size) + " heads " + std::to_string(n_head) + "/" +
                     std::to_string(n_kv) + " hd " + std::to_string(hd) + " " + name(kv_type) + " seqs";
  for (const Sequence& s : seqs) what += " " + std::to_string(s.length) + "/" + std::to_string(s.rows);
  expect_close(out.t(), expect.t(), 2e-5, 1e-4, what);
  EXPECT_TRUE(out.padding_intact()) << what << " wrote between rows of out";
}

TEST_P(AttentionPagedBattery, MatchesContiguousAttentionPerSequence) {
  for (DType type : {DType::F16, DType::F32}) {
    // Decode steps of sequences of different lengths, one row each.
    run_case(impl(), {{1, 1}, {17, 1}, {40, 1}, {16, 1}}, 16, 8, 2, 64, type, GetParam());
    // A prompt chunk continuing a cached prefix beside decode rows.
    run_case(impl(), {{5, 1}, {70, 23}, {33, 1}}, 16, 4, 4, 32, type, GetParam());
    // Odd block size, MQA, head_dim not a multiple of the vector width.
    run_case(impl(), {{9, 2}, {3, 3}, {50, 1}}, 7, 6, 1, 20, type, GetParam());
    // Llama-3-8B-like heads over a long context.
    run_case(impl(), {{600, 1}, {1000, 1}}, 16, 32, 8, 128, type, GetParam());
  }
}

TEST_P(AttentionPagedBattery, MatchesContiguousAttentionOverQ8Pools) {
  // q8_0 pools (the server's --kv-type q8_0): the reference reads the same blocks, copied out contiguously.
  run_case(impl(), {{1, 1}, {17, 1}, {40, 1}, {16, 1}}, 16, 8, 2, 64, DType::Q8_0, GetParam());
  run_case(impl(), {{5, 1}, {70, 23}, {33, 1}}, 16, 4, 4, 32, DType::Q8_0, GetParam());
  run_case(impl(), {{9, 2}, {3, 3}, {50, 1}}, 7, 6, 1, 96, DType::Q8_0, GetParam());
  run_case(impl(), {{600, 1}, {1000, 1}}, 16, 32, 8, 128, DType::Q8_0, GetParam());
}

TEST_P(AttentionPagedBattery, RejectsMalformedTables) {
  const AttentionSpec spec{4, 2, 8, 0.35f};
  Strided q(DType::F32, 2, 32), out(DType::F32, 2, 32), k(DType::F16, 32, 16), v(DType::F16, 32, 16);
  q.randomize();
  k.randomize();
  v.randomize();
  std::vector<int32_t> pos{3, 4}, table{0, 1, 0, 1}, short_table{0, 1};
  const Tensor pos_t = Tensor::view(pos.data(), DType::I32, {2});
  Backend& b = impl();
  expect_error([&] { b.attention_paged(q.t(), k.t(), v.t(), pos_t, Tensor::view(table.data(), DType::I32, {2, 2}), 5, spec, out.t()); },
               "attention_paged: the pools' 32 rows are not whole blocks of 5");
  expect_error([&] { b.attention_paged(q.t(), k.t(), v.t(), pos_t, Tensor::view(short_table.data(), DType::I32, {1, 2}), 8, spec, out.t()); },
               "attention_paged: block_table");
}

INSTANTIATE_TEST_SUITE_P(Impls, AttentionPagedBattery, ::testing::ValuesIn(op_impl_names()), param_name);

// The host default also checks table entries against the pool (a device kernel trusts them).
TEST(AttentionPagedHost, RejectsBlocksOutsideThePool) {
  const AttentionSpec spec{2, 2, 8, 0.35f};
  Strided q(DType::F32, 1, 16), out(DType::F32, 1, 16), k(DType::F32, 16, 16), v(DType::F32, 16, 16);
  q.randomize();
  k.randomize();
  v.randomize();
  std::vector<int32_t> pos{9}, table{1, 2};
  expect_error([&] {
    reference().attention_paged(q.t(), k.t(), v.t(), Tensor::view(pos.data(), DType::I32, {1}),
                                Tensor::view(table.data(), DType::I32, {1, 2}), 8, spec, out.t());
  }, "attention_paged: block 2 is outside the pool of 2");
  pos[0] = 16;
  expect_error([&] {
    reference().attention_paged(q.t(), k.t(), v.t(), Tensor::view(pos.data(), DType::I32, {1}),
                                Tensor::view(table.data(), DType::I32, {1, 2}), 8, spec, out.t());
  }, "attention_paged: position 16 of row 0 is outside its block table of 2 blocks");
}

}  // namespace
}  // namespace llmr::testing
