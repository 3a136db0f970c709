// Launchers of the CUDA kernels (sg2_kernels.cu). Framework-free: used by the TF GPU op wrapper
// (sg2_ops_gpu.cc) and by the standalone harness (../cuda_harness). `stream` is a cudaStream_t.
#pragma once
#include "sg2_common.h"

namespace sg2 {

// x [n, h, w, c], f [fh, fw], y [n, out_h, out_w, c]; all device pointers. Returns a cudaError_t as int.
int LaunchUpfirdn2d(const UpFirDnParams& p, const float* x, const float* f, float* y, void* stream);

// Forward (p.order == 0: dy ignored, may be null) or derivative of order p.order. b may be null (no bias).
int LaunchBiasAct(const BiasActParams& p, const float* dy, const float* x, const float* b, float* y, void* stream);

}  // namespace sg2
