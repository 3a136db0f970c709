// CUDA kernels of the sg2tf ops (NHWC). Compiled by nvcc for the TF GPU ops and, unchanged, by the harness.
#include <cuda_runtime.h>

#include "sg2_kernels.h"

namespace sg2 {
namespace {

// One thread per output element; channels fastest, so neighbouring threads read neighbouring addresses.
__global__ void Upfirdn2dKernel(UpFirDnParams p, const float* __restrict__ x, const float* __restrict__ f,
                                float* __restrict__ y) {
  const int64_t total = p.n * p.out_h * p.out_w * p.c;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)blockDim.x * gridDim.x) {
    const int64_t c = idx % p.c;
    int64_t rest = idx / p.c;
    const int64_t ox = rest % p.out_w;
    rest /= p.out_w;
    const int64_t oy = rest % p.out_h;
    const int64_t n = rest / p.out_h;
    // Taps whose zero-inserted position is a multiple of `up`: start at the first such tap, step by `up`.
    const int64_t uy0 = oy * p.down - p.py0, ux0 = ox * p.down - p.px0;
    int ty0 = (int)(((-uy0) % p.up + p.up) % p.up);
    int tx0 = (int)(((-ux0) % p.up + p.up) % p.up);
    float acc = 0.f;
    for (int ty = ty0; ty < p.fh; ty += p.up) {
      const int64_t u = uy0 + ty;
      if (u < 0) continue;
      const int64_t iy = u / p.up;
      if (iy >= p.h) break;
      const float* xrow = x + ((n * p.h + iy) * p.w) * p.c + c;
      for (int tx = tx0; tx < p.fw; tx += p.up) {
        const int64_t v = ux0 + tx;
        if (v < 0) continue;
        const int64_t ix = v / p.up;
        if (ix >= p.w) break;
        acc += upfirdn_tap(f, p, ty, tx) * __ldg(xrow + ix * p.c);
      }
    }
    y[idx] = acc;
  }
}

__global__ void BiasActKernel(BiasActParams p, const float* __restrict__ dy, const float* __restrict__ x,
                              const float* __restrict__ b, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.size; i += (int64_t)blockDim.x * gridDim.x) {
    const float bv = (b != nullptr && p.channels > 0) ? __ldg(b + i % p.channels) : 0.f;
    y[i] = bias_act_elem(p, x[i], bv, dy != nullptr ? dy[i] : 0.f);
  }
}

int Blocks(int64_t total, int threads) {
  int64_t blocks = (total + threads - 1) / threads;
  return (int)(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace

int LaunchUpfirdn2d(const UpFirDnParams& p, const float* x, const float* f, float* y, void* stream) {
  const int threads = 256;
  Upfirdn2dKernel<<<Blocks(p.n * p.out_h * p.out_w * p.c, threads), threads, 0, (cudaStream_t)stream>>>(p, x, f, y);
  return (int)cudaGetLastError();
}

int LaunchBiasAct(const BiasActParams& p, const float* dy, const float* x, const float* b, float* y, void* stream) {
  const int threads = 256;
  BiasActKernel<<<Blocks(p.size, threads), threads, 0, (cudaStream_t)stream>>>(p, dy, x, b, y);
  return (int)cudaGetLastError();
}

}  // namespace sg2
