// TensorFlow custom ops Sg2Upfirdn2d, Sg2BiasAct, Sg2BiasActGrad: op definitions and CPU kernels (NHWC).
// Gradients are registered in Python (sg2tf/ops/custom.py) in terms of these same ops.
#include <algorithm>
#include <vector>

#include "sg2_common.h"
#include "sg2_tf_util.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

using namespace tensorflow;  // NOLINT
using shape_inference::InferenceContext;
using shape_inference::DimensionHandle;

static Status UpfirdnDim(InferenceContext* c, DimensionHandle in, int up, int down, int p0, int p1, int taps,
                         DimensionHandle* out) {
  if (!c->ValueKnown(in)) {
    *out = c->UnknownDim();
    return OkStatus();
  }
  int64_t size = sg2::upfirdn_out_size(c->Value(in), up, down, p0, p1, taps);
  if (size < 1) return errors::InvalidArgument("upfirdn2d: output would be empty");
  *out = c->MakeDim(size);
  return OkStatus();
}

REGISTER_OP("Sg2Upfirdn2d")
    .Input("x: float")
    .Input("f: float")
    .Output("y: float")
    .Attr("up: int >= 1")
    .Attr("down: int >= 1")
    .Attr("padding: list(int)")  // x0, x1, y0, y1
    .Attr("flip_filter: bool")
    .Attr("gain: float")
    .SetShapeFn([](InferenceContext* c) {
      shape_inference::ShapeHandle x, f;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &f));
      int up, down;
      std::vector<int> pad;
      TF_RETURN_IF_ERROR(c->GetAttr("up", &up));
      TF_RETURN_IF_ERROR(c->GetAttr("down", &down));
      TF_RETURN_IF_ERROR(c->GetAttr("padding", &pad));
      if (pad.size() != 4) return errors::InvalidArgument("upfirdn2d: padding must have 4 entries");
      DimensionHandle fh = c->Dim(f, 0), fw = c->Dim(f, 1), oh, ow;
      if (!c->ValueKnown(fh) || !c->ValueKnown(fw)) {
        oh = c->UnknownDim();
        ow = c->UnknownDim();
      } else {
        TF_RETURN_IF_ERROR(UpfirdnDim(c, c->Dim(x, 1), up, down, pad[2], pad[3], c->Value(fh), &oh));
        TF_RETURN_IF_ERROR(UpfirdnDim(c, c->Dim(x, 2), up, down, pad[0], pad[1], c->Value(fw), &ow));
      }
      c->set_output(0, c->MakeShape({c->Dim(x, 0), oh, ow, c->Dim(x, 3)}));
      return OkStatus();
    })
    .Doc("Upsample (zero insertion), pad, FIR filter, downsample; NHWC.");

REGISTER_OP("Sg2BiasAct")
    .Input("x: float")
    .Input("b: float")
    .Output("y: float")
    .Attr("act: int")
    .Attr("alpha: float")
    .Attr("gain: float")
    .Attr("clamp: float")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return OkStatus();
    })
    .Doc("y = clip(act(x + b) * gain, -clamp, clamp), b along the last axis (empty b: no bias).");

REGISTER_OP("Sg2BiasActGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("b: float")
    .Output("dx: float")
    .Attr("act: int")
    .Attr("alpha: float")
    .Attr("gain: float")
    .Attr("clamp: float")
    .Attr("order: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      return OkStatus();
    })
    .Doc("dx = dy * gain * act^(order)(x + b) * [|act(x + b) * gain| within clamp]; order 1 or 2.");

namespace {

// Taps of one output coordinate that hit a real input sample: (tap index, input index) pairs.
void ValidTaps(int64_t o, int down, int up, int p0, int taps, int64_t in, std::vector<std::pair<int, int64_t>>* out) {
  out->clear();
  for (int t = 0; t < taps; ++t) {
    int64_t u = o * down + t - p0;  // position in the zero-inserted signal
    if (u < 0 || u % up != 0) continue;
    int64_t i = u / up;
    if (i < in) out->emplace_back(t, i);
  }
}


struct Tables {
  const float* k;       // [fh * fw] correlation taps incl. gain
  const int* col_n;     // [out_w] number of valid column taps
  const int* col_t;     // [out_w * fw] tap index
  const int64_t* col_i; // [out_w * fw] input column offset (already times C)
};

// Output rows [begin, end) of the flattened (n, oy) range; channels in register blocks of CB.
template <int CB>
void RunRows(const sg2::UpFirDnParams& p, const Tables& t, const float* xp, float* yp, int64_t begin, int64_t end) {
  const int64_t C = p.c;
  std::vector<std::pair<int, int64_t>> rows;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t n = r / p.out_h, oy = r % p.out_h;
    ValidTaps(oy, p.down, p.up, p.py0, p.fh, p.h, &rows);
    const int nr = static_cast<int>(rows.size());
    const float* row_ptr[64];
    const float* row_k[64];
    for (int j = 0; j < nr && j < 64; ++j) {
      row_ptr[j] = xp + (n * p.h + rows[j].second) * p.w * C;
      row_k[j] = t.k + rows[j].first * p.fw;
    }
    float* out = yp + r * p.out_w * C;
    for (int64_t ox = 0; ox < p.out_w; ++ox, out += C) {
      const int nc = t.col_n[ox];
      const int* ct = t.col_t + ox * p.fw;
      const int64_t* ci = t.col_i + ox * p.fw;
      for (int64_t c0 = 0; c0 < C; c0 += CB) {
        float acc[CB];
        for (int c = 0; c < CB; ++c) acc[c] = 0.f;
        for (int j = 0; j < nr; ++j) {
          const float* base = row_ptr[j] + c0;
          const float* kr = row_k[j];
          for (int q = 0; q < nc; ++q) {
            const float kv = kr[ct[q]];
            const float* src = base + ci[q];
            for (int c = 0; c < CB; ++c) acc[c] += kv * src[c];
          }
        }
        for (int c = 0; c < CB; ++c) out[c0 + c] = acc[c];
      }
    }
  }
}

class Upfirdn2dCpuOp : public OpKernel {
 public:
  explicit Upfirdn2dCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, sg2::ReadUpfirdnAttrs(ctx, &a_));
  }
  // (filters are limited to 64 rows by the CPU kernel's row table)

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    sg2::UpFirDnParams p;
    OP_REQUIRES_OK(ctx, sg2::UpfirdnParamsFrom(x, f, a_.up, a_.down, a_.pad, a_.flip, a_.gain, &p));
    OP_REQUIRES(ctx, p.fh <= 64, errors::InvalidArgument("upfirdn2d: filters taller than 64 taps are not supported"));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({p.n, p.out_h, p.out_w, p.c}), &y));
    const float* xp = x.flat<float>().data();
    const float* fp = f.flat<float>().data();
    float* yp = y->flat<float>().data();

    // Correlation taps with gain, and the valid (tap, input) pairs of every output column.
    std::vector<float> k(p.fh * p.fw);
    for (int ty = 0; ty < p.fh; ++ty)
      for (int tx = 0; tx < p.fw; ++tx) k[ty * p.fw + tx] = sg2::upfirdn_tap(fp, p, ty, tx);
    std::vector<int> col_n(p.out_w), col_t(p.out_w * p.fw);
    std::vector<int64_t> col_i(p.out_w * p.fw);
    {
      std::vector<std::pair<int, int64_t>> taps;
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        ValidTaps(ox, p.down, p.up, p.px0, p.fw, p.w, &taps);
        col_n[ox] = static_cast<int>(taps.size());
        for (size_t j = 0; j < taps.size(); ++j) {
          col_t[ox * p.fw + j] = taps[j].first;
          col_i[ox * p.fw + j] = taps[j].second * p.c;
        }
      }
    }
    Tables t{k.data(), col_n.data(), col_t.data(), col_i.data()};
    auto work = [&](int64_t begin, int64_t end) {
      if (p.c % 32 == 0) RunRows<32>(p, t, xp, yp, begin, end);
      else if (p.c % 8 == 0) RunRows<8>(p, t, xp, yp, begin, end);
      else RunRows<1>(p, t, xp, yp, begin, end);
    };
    const int64_t rows_total = p.n * p.out_h;
    const int64_t cost = std::max<int64_t>(1, p.out_w * p.c * (p.fh * p.fw) / (p.up * p.up) * 2);
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(workers->num_threads, workers->workers, rows_total, cost, work);
  }

 private:
  sg2::UpfirdnAttrs a_;
};


using BiasActFn = void (*)(const sg2::BiasActParams&, const float*, const float*, const float*, float*, int64_t);

// One row of `len` elements; the activation, derivative order and clamping are compile-time constants.
template <int A, int K, bool CLAMP>
void BiasActRow(const sg2::BiasActParams& p, const float* x, const float* b, const float* dy, float* y, int64_t len) {
  const float alpha = p.alpha, gain = p.gain, clamp = p.clamp;
  for (int64_t c = 0; c < len; ++c) {
    const float z = b ? x[c] + b[c] : x[c];
    if (K == 0) {
      float v = sg2::act_deriv(A, 0, z, alpha) * gain;
      if (CLAMP) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
      y[c] = v;
    } else {
      float g = dy[c] * gain * sg2::act_deriv(A, K, z, alpha);
      if (CLAMP) {
        const float v = sg2::act_deriv(A, 0, z, alpha) * gain;
        g = (v > clamp || v < -clamp) ? 0.f : g;
      }
      y[c] = g;
    }
  }
}

template <int A>
BiasActFn PickOrder(int order, bool clamp) {
  switch (order * 2 + (clamp ? 1 : 0)) {
    case 0: return BiasActRow<A, 0, false>;
    case 1: return BiasActRow<A, 0, true>;
    case 2: return BiasActRow<A, 1, false>;
    case 3: return BiasActRow<A, 1, true>;
    case 4: return BiasActRow<A, 2, false>;
    default: return BiasActRow<A, 2, true>;
  }
}

BiasActFn PickBiasAct(const sg2::BiasActParams& p) {
  const bool clamp = p.clamp >= 0.f;
  switch (p.act) {
    case sg2::kLinear: return PickOrder<sg2::kLinear>(p.order, clamp);
    case sg2::kRelu: return PickOrder<sg2::kRelu>(p.order, clamp);
    case sg2::kLrelu: return PickOrder<sg2::kLrelu>(p.order, clamp);
    case sg2::kTanh: return PickOrder<sg2::kTanh>(p.order, clamp);
    case sg2::kSigmoid: return PickOrder<sg2::kSigmoid>(p.order, clamp);
    case sg2::kElu: return PickOrder<sg2::kElu>(p.order, clamp);
    case sg2::kSelu: return PickOrder<sg2::kSelu>(p.order, clamp);
    case sg2::kSoftplus: return PickOrder<sg2::kSoftplus>(p.order, clamp);
    default: return PickOrder<sg2::kSwish>(p.order, clamp);
  }
}

class BiasActCpuOp : public OpKernel {
 public:
  explicit BiasActCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, sg2::ReadBiasActAttrs(ctx, &p_));
  }

  void Compute(OpKernelContext* ctx) override {
    const bool grad = p_.order > 0;
    const Tensor* dy = grad ? &ctx->input(0) : nullptr;
    const Tensor& x = ctx->input(grad ? 1 : 0);
    const Tensor& b = ctx->input(grad ? 2 : 1);
    sg2::BiasActParams p = p_;
    OP_REQUIRES_OK(ctx, sg2::BiasActShapes(dy, x, b, &p));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    const float* xp = x.flat<float>().data();
    const float* bp = b.flat<float>().data();
    const float* dyp = grad ? dy->flat<float>().data() : nullptr;
    float* yp = y->flat<float>().data();
    BiasActFn fn = PickBiasAct(p);
    // Work in whole rows of C channels so the bias index is the inner loop counter.
    const int64_t C = p.channels > 0 ? p.channels : std::max<int64_t>(1, std::min<int64_t>(p.size, 1024));
    const int64_t rows = (p.size + C - 1) / C;
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t off = r * C, len = std::min<int64_t>(C, p.size - off);
        fn(p, xp + off, p.channels > 0 ? bp : nullptr, grad ? dyp + off : nullptr, yp + off, len);
      }
    };
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(workers->num_threads, workers->workers, rows, C * 8, work);
  }

 private:
  sg2::BiasActParams p_{};
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("Sg2Upfirdn2d").Device(DEVICE_CPU), Upfirdn2dCpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasAct").Device(DEVICE_CPU), BiasActCpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasActGrad").Device(DEVICE_CPU), BiasActCpuOp);
