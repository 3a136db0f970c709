// GPU kernels of Sg2Upfirdn2d / Sg2BiasAct / Sg2BiasActGrad for TensorFlow (compiled with -DGOOGLE_CUDA=1 and
// linked with sg2_kernels.cu). The ops themselves are registered by the CPU library, which must be loaded first.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#include <vector>

#include "sg2_kernels.h"
#include "sg2_tf_util.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "unsupported/Eigen/CXX11/Tensor"

using namespace tensorflow;  // NOLINT

namespace {

void* StreamOf(OpKernelContext* ctx) { return (void*)ctx->eigen_device<Eigen::GpuDevice>().stream(); }

class Upfirdn2dGpuOp : public OpKernel {
 public:
  explicit Upfirdn2dGpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, sg2::ReadUpfirdnAttrs(ctx, &a_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    sg2::UpFirDnParams p;
    OP_REQUIRES_OK(ctx, sg2::UpfirdnParamsFrom(x, f, a_.up, a_.down, a_.pad, a_.flip, a_.gain, &p));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({p.n, p.out_h, p.out_w, p.c}), &y));
    int err = sg2::LaunchUpfirdn2d(p, x.flat<float>().data(), f.flat<float>().data(), y->flat<float>().data(),
                                   StreamOf(ctx));
    OP_REQUIRES(ctx, err == 0, errors::Internal("upfirdn2d: CUDA launch failed, error ", err));
  }

 private:
  sg2::UpfirdnAttrs a_;
};

class BiasActGpuOp : public OpKernel {
 public:
  explicit BiasActGpuOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
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
    if (p.size == 0) return;
    int err = sg2::LaunchBiasAct(p, grad ? dy->flat<float>().data() : nullptr, x.flat<float>().data(),
                                 p.channels > 0 ? b.flat<float>().data() : nullptr, y->flat<float>().data(),
                                 StreamOf(ctx));
    OP_REQUIRES(ctx, err == 0, errors::Internal("bias_act: CUDA launch failed, error ", err));
  }

 private:
  sg2::BiasActParams p_{};
};

}  // namespace

// The filter stays in device memory (a small constant tensor); every op input lives on the GPU.
REGISTER_KERNEL_BUILDER(Name("Sg2Upfirdn2d").Device(DEVICE_GPU), Upfirdn2dGpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasAct").Device(DEVICE_GPU), BiasActGpuOp);
REGISTER_KERNEL_BUILDER(Name("Sg2BiasActGrad").Device(DEVICE_GPU), BiasActGpuOp);
#endif  // GOOGLE_CUDA
