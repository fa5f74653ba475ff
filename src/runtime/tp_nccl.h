#pragma once
// NCCL for tensor parallelism: the plan, and the one piece that exists without a GPU.
//
// NOT IMPLEMENTED YET (no multi-GPU machine was available when the sharding was written). What the
// NCCL implementation of AllReduce (runtime/tp_all_reduce.h) will do, compiled only when
// LLMR_HAVE_CUDA is defined and linked against the NCCL under /usr/local/cuda:
//   - one thread per GPU in one process: rank r does cudaSetDevice(r), owns a CudaBackend and its
//     stream; rank 0 makes an ncclUniqueId, every rank calls ncclCommInitRank(&comm, N, id, r)
//     (or the process calls ncclCommInitAll over devices 0..N-1);
//   - sum(x): ncclAllReduce(x, x, rows*cols, ncclFloat, ncclSum, comm, stream), in place on the
//     rank's stream, so it is ordered after the wo / w_down matmul that produced x without a host
//     synchronisation; overlap by splitting the token rows in two and reducing the first half
//     while the second half's matmul runs;
//   - gather_columns: vocabulary slices padded to ceil(V/N) columns, ncclAllGather into a
//     [N, rows, ceil(V/N)] device buffer, then one strided copy to the host logits (rank 0 only);
//   - errors: every nccl* call's ncclResult_t turned into llmr::Error with ncclGetErrorString and
//     the rank; ncclCommAbort on the others when one rank throws (as InProcessGroup::abort does);
//   - environment: NCCL_NVLS_ENABLE=0 in every process that uses NCCL (NVLink multicast stays off),
//     set by disable_nvlink_multicast() before the first NCCL call.
// Benchmarks to run on 2+ H200s once it exists: `llmr bench --tp N` for N = 1, 2, 4, 8 at batch 1
// and 64, Llama-3-8B shapes in q4_0 and f16, with the time inside ncclAllReduce measured by events.

namespace llmr {

// Sets NCCL_NVLS_ENABLE=0 in this process's environment (overriding any other value). Call before
// any NCCL communicator is created; returns the value that was there before ("" if unset).
const char* disable_nvlink_multicast();

// Number of CUDA devices this build and machine offer (0 without CUDA or without a driver).
int visible_gpu_count();

}  // namespace llmr
