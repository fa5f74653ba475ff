// How long the logits' trip to the host takes, three ways.
#include <cuda_runtime.h>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <chrono>
constexpr int N = 128256;
__global__ void produce(float* dev, int n) {  // a stand-in lm head: 16 rows a block
  int r = blockIdx.x * 16 + threadIdx.x / 16;
  if (threadIdx.x % 16 == 0 && r < n) dev[r] = r * 0.5f;
}
__global__ void produce_mirror64(float* dev, float* host, int n) {  // + 64 B a block to mapped host memory
  __shared__ float v[16];
  int r = blockIdx.x * 16 + threadIdx.x / 16;
  if (threadIdx.x % 16 == 0 && r < n) { dev[r] = r * 0.5f; v[threadIdx.x / 16] = r * 0.5f; }
  __syncthreads();
  if (threadIdx.x < 16 && blockIdx.x * 16 + threadIdx.x < n) host[blockIdx.x * 16 + threadIdx.x] = v[threadIdx.x];
}
__global__ void produce_mirror4(float* dev, float* host, int n) {  // + 4 B a row, each its own store
  int r = blockIdx.x * 16 + threadIdx.x / 16;
  if (threadIdx.x % 16 == 0 && r < n) { dev[r] = r * 0.5f; host[r] = r * 0.5f; }
}
double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }
int main() {
  float *dev, *host, *hdev;
  cudaMalloc(&dev, N * 4);
  cudaHostAlloc(&host, N * 4, cudaHostAllocMapped);
  cudaHostGetDevicePointer(&hdev, host, 0);
  cudaStream_t s; cudaStreamCreate(&s);
  auto time = [&](auto body) {
    std::vector<double> t;
    for (int i = 0; i < 200; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      body(); cudaStreamSynchronize(s);
      t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return med(t);
  };
  const int blocks = (N + 15) / 16;
  printf("kernel only              %.1f us\n", time([&] { produce<<<blocks, 256, 0, s>>>(dev, N); }));
  printf("kernel + memcpy D2H      %.1f us\n", time([&] { produce<<<blocks, 256, 0, s>>>(dev, N); cudaMemcpyAsync(host, dev, N * 4, cudaMemcpyDeviceToHost, s); }));
  printf("kernel + 64B mirror      %.1f us\n", time([&] { produce_mirror64<<<blocks, 256, 0, s>>>(dev, hdev, N); }));
  printf("kernel + 4B mirror       %.1f us\n", time([&] { produce_mirror4<<<blocks, 256, 0, s>>>(dev, hdev, N); }));
  printf("memcpy D2H only          %.1f us\n", time([&] { cudaMemcpyAsync(host, dev, N * 4, cudaMemcpyDeviceToHost, s); }));
  printf("empty sync               %.1f us\n", time([&] {}));
  // check the mirror
  produce_mirror64<<<blocks, 256, 0, s>>>(dev, hdev, N); cudaStreamSynchronize(s);
  int bad = 0; for (int i = 0; i < N; ++i) bad += host[i] != i * 0.5f;
  printf("mirror64 wrong values: %d\n", bad);
}
