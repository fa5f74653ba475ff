#include "runtime/tp_all_reduce.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace llmr {
namespace {

void check_host_f32(const Tensor& t, const char* what) {
  check(t.device == Device::Host, std::string("in-process all-reduce: ") + what + " " + t.describe() +
                                      " is not in host memory (GPU ranks need the NCCL implementation)");
  check(t.type == DType::F32, std::string("in-process all-reduce: ") + what + " must be f32, not " + t.describe());
}

bool same_shape(const Tensor& a, const Tensor& b) { return a.rows() == b.rows() && a.cols() == b.cols(); }

}  // namespace

class InProcessGroup::Rank final : public AllReduce {
 public:
  Rank(InProcessGroup& g, int r) : g_(g), r_(r) {}
  int rank() const override { return r_; }
  int size() const override { return g_.n_; }

  void sum(const Tensor& x) override {
    if (g_.n_ == 1) return;  // one rank: its partial is the total (and may live in device memory)
    check_host_f32(x, "sum operand");
    g_.posted_[size_t(r_)] = x.as_matrix();
    g_.barrier();
    const std::vector<Tensor>& all = g_.posted_;
    for (const Tensor& t : all)  // every rank sees the same mismatch, so all throw together
      check(same_shape(t, all[0]), "all-reduce: ranks passed different shapes " + all[0].describe() + " and " +
                                       t.describe());
    // Rank r reduces its share of the rows in every rank's tensor (reduce-scatter), then writes the
    // sums back to all of them (all-gather); shares are disjoint, so no two threads touch one row.
    const int64_t rows = all[0].rows(), cols = all[0].cols();
    const int64_t begin = rows * r_ / g_.n_, end = rows * (r_ + 1) / g_.n_;
    for (int64_t row = begin; row < end; ++row) {
      float* acc = all[0].row<float>(row);
      for (size_t k = 1; k < all.size(); ++k) {
        const float* p = all[k].row<float>(row);
        for (int64_t c = 0; c < cols; ++c) acc[c] += p[c];
      }
      for (size_t k = 1; k < all.size(); ++k) std::memcpy(all[k].row<float>(row), acc, size_t(cols) * sizeof(float));
    }
    g_.barrier();
  }

  void gather_columns(const Tensor& local, int64_t col_begin, const Tensor& full) override {
    check_host_f32(local, "gather operand");
    check_host_f32(full, "gather result");
    g_.posted_[size_t(r_)] = local.as_matrix();
    g_.posted_col_[size_t(r_)] = col_begin;
    g_.barrier();
    const Tensor f = full.as_matrix();
    for (size_t k = 0; k < g_.posted_.size(); ++k) {
      const Tensor& p = g_.posted_[k];
      const int64_t c0 = g_.posted_col_[k];
      check(p.rows() == f.rows() && c0 >= 0 && c0 + p.cols() <= f.cols(),
            "gather: rank " + std::to_string(k) + "'s slice " + p.describe() + " at column " + std::to_string(c0) +
                " does not fit " + f.describe());
      for (int64_t row = 0; row < p.rows(); ++row)
        std::memcpy(f.row<float>(row) + c0, p.row<float>(row), size_t(p.cols()) * sizeof(float));
    }
    g_.barrier();  // no rank may overwrite its slice before every rank has copied it
  }

 private:
  InProcessGroup& g_;
  int r_;
};

InProcessGroup::InProcessGroup(int n) : n_(n) {
  check(n >= 1 && n <= 1024, "in-process group: " + std::to_string(n) + " ranks is out of range");
  for (int r = 0; r < n; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
  posted_.resize(size_t(n));
  posted_col_.resize(size_t(n));
}

InProcessGroup::~InProcessGroup() = default;

AllReduce& InProcessGroup::rank(int r) {
  check(r >= 0 && r < n_, "in-process group: no rank " + std::to_string(r));
  return *ranks_[size_t(r)];
}

void InProcessGroup::barrier() {
  std::unique_lock lock(mu_);
  check(!aborted_, "tensor parallel: another rank failed");
  const uint64_t gen = generation_;
  if (++waiting_ == n_) {
    waiting_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return generation_ != gen || aborted_; });
  check(generation_ != gen, "tensor parallel: another rank failed");
}

void InProcessGroup::abort() {
  std::lock_guard lock(mu_);
  aborted_ = true;
  cv_.notify_all();
}

void InProcessGroup::reset() {
  std::lock_guard lock(mu_);
  aborted_ = false;
  waiting_ = 0;
}

}  // namespace llmr
