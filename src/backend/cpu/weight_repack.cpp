// CpuBackend::upload_matmul_weight: q8_0 / q4_0 / q4_k matrices repacked to Q8_0R / Q4_0R / Q4_KR
// (tensor/*_repack.h) where the AVX-512 kernels run, so generation reads 16 rows per vector op instead of
// reducing each row's blocks.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/matmul_kernels.h"
#include "tensor/q4_0_repack.h"
#include "tensor/q4_k_repack.h"
#include "tensor/q8_0_repack.h"

namespace llmr {
namespace {

// Whether [begin, end) lies in one read-only mapping of a file (/proc/self/maps): its pages can be
// dropped from this process and read back from the page cache unchanged.
bool read_only_file_mapping(uintptr_t begin, uintptr_t end) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0, inode = 0;
    char perms[5] = {};
    unsigned long long offset = 0;
    char dev[16] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s %llx %15s %lu", &lo, &hi, perms, &offset, dev, &inode) != 6) continue;
    if (begin >= lo && begin < hi) return end <= hi && inode != 0 && perms[1] == '-' && perms[3] == 'p';
  }
  return false;
}

// The source's whole pages, which this backend no longer reads, given back: the repacked copy replaces
// them, so memory stays about the file's size. A read-only file mapping (a model file) drops them from
// this process only (the page cache keeps them for the next load); other memory is paged out (kept if
// there is no swap). Contents never change: a later read faults them back.
void release_pages(const void* data, size_t bytes) {
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page, end = (uintptr_t(data) + bytes) / page * page;
  if (end <= begin) return;
  if (read_only_file_mapping(begin, end)) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // a hint: failure is harmless
    return;
  }
#ifdef MADV_PAGEOUT
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#endif
}

}  // namespace

std::unique_ptr<Buffer> CpuBackend::upload_matmul_weight(const Tensor& host) {
  const bool q8 = can_repack_q8_0(host), q4 = can_repack_q4_0(host), q4k = can_repack_q4_k(host);
  if (!repack_weights_ || cpu::best_level() != cpu::Level::Avx512 || !(q8 || q4 || q4k)) return upload(host);
  auto packed = alloc(q8 ? DType::Q8_0R : q4 ? DType::Q4_0R : DType::Q4_KR, {host.shape[0], host.shape[1]});
  const Tensor& dst = packed->tensor();
  const int64_t groups = host.shape[0] / kQ8RRows, per = 64;  // groups per task
  pool_.parallel_for((groups + per - 1) / per, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t r0 = i * per * kQ8RRows, rows = std::min(groups * kQ8RRows - r0, per * kQ8RRows);
      if (q8) repack_q8_0(host.slice_rows(r0, rows), dst.slice_rows(r0, rows));
      else if (q4) repack_q4_0(host.slice_rows(r0, rows), dst.slice_rows(r0, rows));
      else repack_q4_k(host.slice_rows(r0, rows), dst.slice_rows(r0, rows));
    }
  });
  release_pages(host.data, size_t(host.shape[0]) * row_bytes(host.type, host.shape[1]));
  return packed;
}

}  // namespace llmr
