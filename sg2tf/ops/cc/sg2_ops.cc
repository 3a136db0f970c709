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

class Upfirdn2dCpuOp : public OpKernel {
 public:
  explicit Upfirdn2dCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("up", &up_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("down", &down_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padding", &pad_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("flip_filter", &flip_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &gain_));
    OP_REQUIRES(ctx, pad_.size() == 4, errors::InvalidArgument("upfirdn2d: padding must have 4 entries"));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    sg2::UpFirDnParams p;
    OP_REQUIRES_OK(ctx, sg2::UpfirdnParamsFrom(x, f, up_, down_, pad_, flip_, gain_, &p));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({p.n, p.out_h, p.out_w, p.c}), &y));
    const float* xp = x.flat<float>().data();
    const float* fp = f.flat<float>().data();
    float* yp = y->flat<float>().data();

    // Correlation taps with gain, and the valid (tap, input) pairs of every output column.
    std::vector<float> k(p.fh * p.fw);
    for (int ty = 0; ty < p.fh; ++ty)
      for (int tx = 0; tx < p.fw; ++tx) k[ty * p.fw + tx] = sg2::upfirdn_tap(fp, p, ty, tx);
    std::vector<std::vector<std::pair<int, int64_t>>> cols(p.out_w);
    for (int64_t ox = 0; ox < p.out_w; ++ox) ValidTaps(ox, p.down, p.up, p.px0, p.fw, p.w, &cols[ox]);

    const int64_t C = p.c;
    auto work = [&](int64_t begin, int64_t end) {
      std::vector<std::pair<int, int64_t>> rows;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t n = r / p.out_h, oy = r % p.out_h;
        ValidTaps(oy, p.down, p.up, p.py0, p.fh, p.h, &rows);
        float* out_row = yp + r * p.out_w * C;
        std::fill(out_row, out_row + p.out_w * C, 0.f);
        for (const auto& ry : rows) {
          const float* in_row = xp + ((n * p.h + ry.second) * p.w) * C;
          const float* krow = k.data() + ry.first * p.fw;
          for (int64_t ox = 0; ox < p.out_w; ++ox) {
            float* __restrict__ acc = out_row + ox * C;
            for (const auto& cx : cols[ox]) {
              const float kv = krow[cx.first];
              const float* __restrict__ src = in_row + cx.second * C;
              for (int64_t c = 0; c < C; ++c) acc[c] += kv * src[c];
            }
          }
        }
      }
    };
    const int64_t rows_total = p.n * p.out_h;
    const int64_t cost = std::max<int64_t>(1, p.out_w * C * (p.fh * p.fw) / (p.up * p.up) * 2);
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(workers->num_threads, workers->workers, rows_total, cost, work);
  }

 private:
  int up_, down_;
  std::vector<int> pad_;
  bool flip_;
  float gain_;
};

class BiasActCpuOp : public OpKernel {
 public:
  explicit BiasActCpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &p_.act));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &p_.alpha));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &p_.gain));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &p_.clamp));
    p_.order = 0;
    if (ctx->HasAttr("order")) OP_REQUIRES_OK(ctx, ctx->GetAttr("order", &p_.order));
    OP_REQUIRES_OK(ctx, sg2::CheckBiasActAttrs(p_));
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
    const int64_t C = p.channels;
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const float bv = C > 0 ? bp[i % C] : 0.f;
        yp[i] = sg2::bias_act_elem(p, xp[i], bv, grad ? dyp[i] : 0.f);
      }
    };
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(workers->num_threads, workers->workers, p.size, 8, work);
  }

 private:
  sg2::BiasActParams p_{};
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("Sg2Upfirdn2d").Device(DEVICE_CPU), Upfirdn2dCpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasAct").Device(DEVICE_CPU), BiasActCpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasActGrad").Device(DEVICE_CPU), BiasActCpuOp);
