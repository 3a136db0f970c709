// Standalone harness for the sg2tf CUDA kernels (no TensorFlow): compiled together with ../cc/sg2_kernels.cu,
// the same source the TF GPU ops use. Exposes a C API for ctypes (run.py: NumPy reference + timings); with
// -DSG2H_MAIN it is also a plain executable that runs a small self-check against a CPU loop.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "sg2_kernels.h"

namespace {

struct Dev {
  float* p = nullptr;
  explicit Dev(size_t n) { if (n) cudaMalloc(&p, n * sizeof(float)); }
  ~Dev() { if (p) cudaFree(p); }
};

#define SG2H_CHECK(expr)                                  \
  do {                                                    \
    int _e = (int)(expr);                                 \
    if (_e != 0) return _e;                               \
  } while (0)

// Runs `launch` once for the result, then `iters` more times between CUDA events; returns ms per call.
template <typename F>
int TimeIt(F launch, int iters, float* ms) {
  SG2H_CHECK(launch());
  SG2H_CHECK(cudaDeviceSynchronize());
  *ms = 0.f;
  if (iters <= 0) return 0;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < iters; ++i) SG2H_CHECK(launch());
  cudaEventRecord(b);
  SG2H_CHECK(cudaEventSynchronize(b));
  cudaEventElapsedTime(ms, a, b);
  *ms /= iters;
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 0;
}

}  // namespace

extern "C" {

// dims: n, h, w, c, up, down, px0, px1, py0, py1, fh, fw, flip. y must hold n*out_h*out_w*c floats.
int sg2h_upfirdn2d(const float* x, const float* f, float* y, const long long* dims, float gain, int iters, float* ms) {
  sg2::UpFirDnParams p;
  p.n = dims[0]; p.h = dims[1]; p.w = dims[2]; p.c = dims[3];
  p.up = (int)dims[4]; p.down = (int)dims[5];
  p.px0 = (int)dims[6]; p.px1 = (int)dims[7]; p.py0 = (int)dims[8]; p.py1 = (int)dims[9];
  p.fh = (int)dims[10]; p.fw = (int)dims[11]; p.flip = dims[12] != 0; p.gain = gain;
  p.out_h = sg2::upfirdn_out_size(p.h, p.up, p.down, p.py0, p.py1, p.fh);
  p.out_w = sg2::upfirdn_out_size(p.w, p.up, p.down, p.px0, p.px1, p.fw);
  const size_t nx = p.n * p.h * p.w * p.c, nf = p.fh * p.fw, ny = p.n * p.out_h * p.out_w * p.c;
  Dev dx(nx), df(nf), dy(ny);
  SG2H_CHECK(cudaMemcpy(dx.p, x, nx * 4, cudaMemcpyHostToDevice));
  SG2H_CHECK(cudaMemcpy(df.p, f, nf * 4, cudaMemcpyHostToDevice));
  SG2H_CHECK(TimeIt([&] { return sg2::LaunchUpfirdn2d(p, dx.p, df.p, dy.p, nullptr); }, iters, ms));
  return (int)cudaMemcpy(y, dy.p, ny * 4, cudaMemcpyDeviceToHost);
}

// dy may be null for order 0; b may be null (channels 0).
int sg2h_bias_act(const float* dy, const float* x, const float* b, float* y, long long size, long long channels,
                  int act, float alpha, float gain, float clamp, int order, int iters, float* ms) {
  sg2::BiasActParams p{size, b ? channels : 0, act, alpha, gain, clamp, order};
  Dev ddy(dy ? size : 0), dx(size), db(b ? channels : 0), dout(size);
  if (dy) SG2H_CHECK(cudaMemcpy(ddy.p, dy, size * 4, cudaMemcpyHostToDevice));
  SG2H_CHECK(cudaMemcpy(dx.p, x, size * 4, cudaMemcpyHostToDevice));
  if (b) SG2H_CHECK(cudaMemcpy(db.p, b, channels * 4, cudaMemcpyHostToDevice));
  SG2H_CHECK(TimeIt([&] { return sg2::LaunchBiasAct(p, ddy.p, dx.p, db.p, dout.p, nullptr); }, iters, ms));
  return (int)cudaMemcpy(y, dout.p, size * 4, cudaMemcpyDeviceToHost);
}

const char* sg2h_error_string(int err) { return cudaGetErrorString((cudaError_t)err); }

}  // extern "C"

#ifdef SG2H_MAIN
// Plain executable: 2x upsample of a random [2, 33, 33, 32] map with the 4x4 StyleGAN2 filter vs a CPU loop.
int main() {
  const long long dims[13] = {2, 33, 33, 32, 2, 1, 2, 1, 2, 1, 4, 4, 0};
  const int oh = 66, ow = 66;
  std::vector<float> x(2 * 33 * 33 * 32), f(16), y(2 * oh * ow * 32), ref(y.size(), 0.f);
  const float k[4] = {1, 3, 3, 1};
  for (int i = 0; i < 16; ++i) f[i] = k[i / 4] * k[i % 4] / 64.f;
  for (auto& v : x) v = (float)rand() / RAND_MAX - 0.5f;
  float ms = 0.f;
  int err = sg2h_upfirdn2d(x.data(), f.data(), y.data(), dims, 4.f, 100, &ms);
  if (err) { printf("CUDA error: %s\n", sg2h_error_string(err)); return 1; }
  sg2::UpFirDnParams p{2, 33, 33, 32, oh, ow, 2, 1, 2, 1, 2, 1, 4, 4, false, 4.f};
  double num = 0, den = 0;
  for (int n = 0; n < 2; ++n) for (int oy = 0; oy < oh; ++oy) for (int ox = 0; ox < ow; ++ox) for (int c = 0; c < 32; ++c) {
    double acc = 0;
    for (int ty = 0; ty < 4; ++ty) for (int tx = 0; tx < 4; ++tx) {
      int uy = oy + ty - 2, ux = ox + tx - 2;
      if (uy < 0 || ux < 0 || uy % 2 || ux % 2 || uy / 2 >= 33 || ux / 2 >= 33) continue;
      acc += sg2::upfirdn_tap(f.data(), p, ty, tx) * x[((n * 33 + uy / 2) * 33 + ux / 2) * 32 + c];
    }
    size_t i = ((size_t)(n * oh + oy) * ow + ox) * 32 + c;
    num += (y[i] - acc) * (y[i] - acc); den += acc * acc;
  }
  double rel = num > 0 ? sqrt(num / den) : 0.0;
  printf("upfirdn2d up=2 [2,33,33,32]: rel err %.2e, %.4f ms/call\n", rel, ms);
  return rel <= 1e-5 ? 0 : 1;
}
#endif
