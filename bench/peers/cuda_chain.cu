// The `gpubatch bench chain` workload in CUDA, as the cross-API reference:
// N dependent launches of add_one (x[i] += 1 over 256 uints) on one stream,
// timed as (a) launches + cudaStreamSynchronize and (b) one replay of a CUDA
// graph captured from the same launches + synchronize. Also the independent
// pattern (each launch on its own 1 KiB slice). Checks results; prints JSON
// lines like `gpubatch bench chain --json`.
//   nvcc -O2 -arch=sm_90 -o cuda_chain cuda_chain.cu
//   ./cuda_chain [N] [REPS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                                 \
  do {                                                                                           \
    cudaError_t e_ = (x);                                                                        \
    if (e_ != cudaSuccess) {                                                                     \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));      \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

__global__ void add_one(unsigned *x, unsigned n) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1u;
}

static const unsigned ELEMS = 256, STRIDE = 256; // 1 KiB per independent slice

static void launch_all(unsigned *x, int n, bool independent, cudaStream_t s) {
  for (int i = 0; i < n; i++) add_one<<<ELEMS / 64, 64, 0, s>>>(x + (independent ? (size_t)i * STRIDE : 0), ELEMS);
}

static double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000, reps = argc > 2 ? atoi(argv[2]) : 15;
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0;
  CHECK(cudaDriverGetVersion(&driver));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (int independent = 0; independent < 2; independent++) {
    size_t words = independent ? (size_t)n * STRIDE : ELEMS;
    unsigned *x;
    CHECK(cudaMalloc(&x, words * 4));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    launch_all(x, n, independent, s);
    CHECK(cudaStreamEndCapture(s, &graph));
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int mode = 0; mode < 2; mode++) { // 0 launches, 1 graph
      std::vector<double> t;
      bool correct = true;
      std::vector<unsigned> host(words);
      for (int rep = 0; rep <= reps; rep++) { // rep 0 warms up
        CHECK(cudaMemsetAsync(x, 0, words * 4, s));
        CHECK(cudaStreamSynchronize(s));
        double t0 = now_us();
        if (mode == 0) launch_all(x, n, independent, s);
        else CHECK(cudaGraphLaunch(exec, s));
        CHECK(cudaStreamSynchronize(s));
        double t1 = now_us();
        CHECK(cudaGetLastError());
        if (rep > 0) t.push_back((t1 - t0) / n);
        CHECK(cudaMemcpy(host.data(), x, words * 4, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < (independent ? words : ELEMS); i++) {
          if ((independent ? i % STRIDE < ELEMS : true) && host[i] != (independent ? 1u : (unsigned)n)) correct = false;
        }
      }
      std::sort(t.begin(), t.end());
      double median = t.size() % 2 ? t[t.size() / 2] : (t[t.size() / 2 - 1] + t[t.size() / 2]) / 2;
      printf("{\"peer\": \"cuda\", \"device\": \"%s\", \"cuda_driver\": %d, \"mode\": \"%s\", \"pattern\": \"%s\", "
             "\"n\": %d, \"reps\": %d, \"per_dispatch_us_median\": %.4f, \"per_dispatch_us_min\": %.4f, "
             "\"per_dispatch_us_max\": %.4f, \"correct\": %s}\n",
             prop.name, driver, mode ? "graph" : "launches", independent ? "independent" : "dependent", n, reps, median,
             t.front(), t.back(), correct ? "true" : "false");
    }
    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphDestroy(graph));
    CHECK(cudaFree(x));
  }
  CHECK(cudaStreamDestroy(s));
  return 0;
}
