// Shared, framework-free definitions of the sg2tf ops (CPU, CUDA and the standalone CUDA harness use these).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SG2_HD __host__ __device__ __forceinline__
#else
#define SG2_HD inline __attribute__((always_inline))
#endif

namespace sg2 {

// upfirdn2d on NHWC: y[n, oy, ox, c] = gain * sum_{ty, tx} k[ty, tx] * u[n, oy*down + ty - py0, ox*down + tx - px0, c]
// where u is x with (up - 1) zeros inserted after every sample and k the correlation kernel
// (f itself when flip_filter, else f rotated by 180 degrees).
struct UpFirDnParams {
  int64_t n, h, w, c;          // input
  int64_t out_h, out_w;        // output
  int up, down;                // same factor for both axes
  int px0, px1, py0, py1;      // padding (negative = crop)
  int fh, fw;                  // filter
  bool flip;                   // flip_filter
  float gain;
};

SG2_HD int64_t upfirdn_out_size(int64_t in, int up, int down, int p0, int p1, int taps) {
  return (in * up + p0 + p1 - taps) / down + 1;
}

// Correlation tap (ty, tx) of the 2-D filter f [fh, fw] (row-major), including gain.
SG2_HD float upfirdn_tap(const float* f, const UpFirDnParams& p, int ty, int tx) {
  return p.flip ? f[ty * p.fw + tx] * p.gain : f[(p.fh - 1 - ty) * p.fw + (p.fw - 1 - tx)] * p.gain;
}

// Activations of fused bias_act. The values must equal the `code` of each entry of ACTIVATIONS in
// sg2tf/ops/activations.py, the one activation table (tests/test_ops.py parses this enum and checks).
// CheckBiasActAttrs (sg2_tf_util.h) accepts codes kLinear..kSwish: keep kSwish last or update that check.
enum Act : int { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

struct BiasActParams {
  int64_t size;      // number of elements of x
  int64_t channels;  // length of b (bias is broadcast along the last axis); 0 = no bias
  int act;
  float alpha, gain, clamp;  // clamp < 0: no clamping
  int order;                 // 0: forward; k >= 1: dy * gain * act^(k)(x + b) * clamp_mask (k <= 2)
};

SG2_HD float sg2_sigmoid(float z) { return 1.f / (1.f + expf(-z)); }

// k-th derivative (k = 0, 1, 2) of the activation at z.
SG2_HD float act_deriv(int act, int k, float z, float alpha) {
  const float selu_scale = 1.0507009873554805f, selu_alpha = 1.6732632423543772f;
  switch (act) {
    case kLinear: return k == 0 ? z : (k == 1 ? 1.f : 0.f);
    case kRelu: return k == 0 ? (z > 0.f ? z : 0.f) : (k == 1 ? (z > 0.f ? 1.f : 0.f) : 0.f);
    case kLrelu: return k == 0 ? (z > 0.f ? z : z * alpha) : (k == 1 ? (z > 0.f ? 1.f : alpha) : 0.f);
    case kTanh: {
      float t = tanhf(z);
      return k == 0 ? t : (k == 1 ? 1.f - t * t : -2.f * t * (1.f - t * t));
    }
    case kSigmoid: {
      float s = sg2_sigmoid(z);
      return k == 0 ? s : (k == 1 ? s * (1.f - s) : s * (1.f - s) * (1.f - 2.f * s));
    }
    case kElu:
      if (z > 0.f) return k == 0 ? z : (k == 1 ? 1.f : 0.f);
      return k == 0 ? expm1f(z) : expf(z);
    case kSelu:
      if (z > 0.f) return k == 0 ? selu_scale * z : (k == 1 ? selu_scale : 0.f);
      return k == 0 ? selu_scale * selu_alpha * expm1f(z) : selu_scale * selu_alpha * expf(z);
    case kSoftplus: {
      if (k == 0) return z > 0.f ? z + log1pf(expf(-z)) : log1pf(expf(z));
      float s = sg2_sigmoid(z);
      return k == 1 ? s : s * (1.f - s);
    }
    case kSwish: {
      float s = sg2_sigmoid(z);
      return k == 0 ? z * s : (k == 1 ? s * (1.f + z * (1.f - s)) : s * (1.f - s) * (2.f + z * (1.f - 2.f * s)));
    }
  }
  return 0.f;
}

// One element of bias_act (order 0) or of its order-k derivative applied to dy.
SG2_HD float bias_act_elem(const BiasActParams& p, float x, float b, float dy) {
  float z = x + b;
  if (p.order == 0) {
    float y = act_deriv(p.act, 0, z, p.alpha) * p.gain;
    if (p.clamp >= 0.f) y = y > p.clamp ? p.clamp : (y < -p.clamp ? -p.clamp : y);
    return y;
  }
  if (p.clamp >= 0.f) {  // clip_by_value passes the gradient where -clamp <= y <= clamp
    float y = act_deriv(p.act, 0, z, p.alpha) * p.gain;
    if (y > p.clamp || y < -p.clamp) return 0.f;
  }
  return dy * p.gain * act_deriv(p.act, p.order, z, p.alpha);
}

}  // namespace sg2
