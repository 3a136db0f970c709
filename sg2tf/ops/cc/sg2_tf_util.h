// Parameter checks shared by the CPU and GPU TensorFlow kernels.
#pragma once
#include <vector>

#include "sg2_common.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace sg2 {

inline tensorflow::Status UpfirdnParamsFrom(const tensorflow::Tensor& x, const tensorflow::Tensor& f, int up, int down,
                                            const std::vector<int>& pad, bool flip, float gain, UpFirDnParams* p) {
  namespace errors = tensorflow::errors;
  if (x.dims() != 4) return errors::InvalidArgument("upfirdn2d: x must be 4-D NHWC");
  if (f.dims() != 2) return errors::InvalidArgument("upfirdn2d: f must be 2-D");
  if (pad.size() != 4) return errors::InvalidArgument("upfirdn2d: padding must have 4 entries");
  p->n = x.dim_size(0); p->h = x.dim_size(1); p->w = x.dim_size(2); p->c = x.dim_size(3);
  p->up = up; p->down = down;
  p->px0 = pad[0]; p->px1 = pad[1]; p->py0 = pad[2]; p->py1 = pad[3];
  p->fh = static_cast<int>(f.dim_size(0)); p->fw = static_cast<int>(f.dim_size(1));
  p->flip = flip; p->gain = gain;
  p->out_h = upfirdn_out_size(p->h, up, down, p->py0, p->py1, p->fh);
  p->out_w = upfirdn_out_size(p->w, up, down, p->px0, p->px1, p->fw);
  if (p->out_h < 1 || p->out_w < 1) return errors::InvalidArgument("upfirdn2d: output would be empty");
  return tensorflow::OkStatus();
}

// Attributes of Sg2Upfirdn2d, read once per kernel construction (CPU and GPU kernels alike).
struct UpfirdnAttrs {
  int up = 1, down = 1;
  std::vector<int> pad;
  bool flip = false;
  float gain = 1.0f;
};

inline tensorflow::Status ReadUpfirdnAttrs(tensorflow::OpKernelConstruction* ctx, UpfirdnAttrs* a) {
  TF_RETURN_IF_ERROR(ctx->GetAttr("up", &a->up));
  TF_RETURN_IF_ERROR(ctx->GetAttr("down", &a->down));
  TF_RETURN_IF_ERROR(ctx->GetAttr("padding", &a->pad));
  if (a->pad.size() != 4) return tensorflow::errors::InvalidArgument("upfirdn2d: padding must have 4 entries");
  TF_RETURN_IF_ERROR(ctx->GetAttr("flip_filter", &a->flip));
  return ctx->GetAttr("gain", &a->gain);
}

inline tensorflow::Status CheckBiasActAttrs(const BiasActParams& p) {
  namespace errors = tensorflow::errors;
  if (p.act < kLinear || p.act > kSwish) return errors::InvalidArgument("bias_act: unknown activation code");
  if (p.order > 2) return errors::InvalidArgument("bias_act: derivative order must be <= 2");
  return tensorflow::OkStatus();
}

// Attributes of Sg2BiasAct / Sg2BiasActGrad (the grad op also has `order`), checked.
inline tensorflow::Status ReadBiasActAttrs(tensorflow::OpKernelConstruction* ctx, BiasActParams* p) {
  TF_RETURN_IF_ERROR(ctx->GetAttr("act", &p->act));
  TF_RETURN_IF_ERROR(ctx->GetAttr("alpha", &p->alpha));
  TF_RETURN_IF_ERROR(ctx->GetAttr("gain", &p->gain));
  TF_RETURN_IF_ERROR(ctx->GetAttr("clamp", &p->clamp));
  p->order = 0;
  if (ctx->HasAttr("order")) TF_RETURN_IF_ERROR(ctx->GetAttr("order", &p->order));
  return CheckBiasActAttrs(*p);
}

// dy may be null (forward op). Fills size and channels.
inline tensorflow::Status BiasActShapes(const tensorflow::Tensor* dy, const tensorflow::Tensor& x,
                                        const tensorflow::Tensor& b, BiasActParams* p) {
  namespace errors = tensorflow::errors;
  p->size = x.NumElements();
  p->channels = b.NumElements();
  if (p->channels > 0 && (x.dims() < 1 || x.dim_size(x.dims() - 1) != p->channels))
    return errors::InvalidArgument("bias_act: b must match the last axis of x");
  if (dy != nullptr && dy->shape() != x.shape()) return errors::InvalidArgument("bias_act: dy and x shapes differ");
  return tensorflow::OkStatus();
}

}  // namespace sg2
