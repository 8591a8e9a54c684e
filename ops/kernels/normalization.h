#pragma once
// Normalisation kernels, forward and backward: layer norm and RMS norm over the trailing `cols` elements
// of each row, batch norm over every dim but the channel dim 1. Plain loops for f32 and f64 (the
// reference; statistics accumulate in double), and oneDNN's layer normalization for large float32 inputs.
// Inputs may have any layout (non-contiguous ones are copied); results are contiguous.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

// Below these many elements the reference loops beat oneDNN's layer normalization, whose calls cost
// ~2.3 us (forward) and ~4 us (backward) before any work (measured on the 2-vCPU Xeon, f32).
inline constexpr int64_t kOneDnnLayerNormMinElements = 2048;
inline constexpr int64_t kOneDnnLayerNormBackwardMinElements = 16384;

// The output and the statistics backward needs: mean (undefined for RMS norm) and rstd = 1/sqrt(var + eps)
// (1/sqrt(mean(x^2) + eps) for RMS norm), one per row, or one per channel for batch norm.
struct NormForward {
  Tensor output, mean, rstd;
};
// Gradients of input, weight and bias; each computed only when asked for, else undefined.
struct NormGrads {
  Tensor input, weight, bias;
};
struct NormGradsWanted {
  bool input = true, weight = true, bias = true;
};

// weight and bias (optional: undefined tensors) have cols elements.
NormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t cols, double eps);
NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, int64_t cols, double eps, NormGradsWanted wanted);

NormForward rms_norm_forward(const Tensor& x, const Tensor& weight, int64_t cols, double eps);
NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& rstd, const Tensor& weight, int64_t cols,
                            NormGradsWanted wanted);

// Batch norm of x [N, C, *]. batch_norm_statistics gives the per-channel mean and biased variance (in
// x's dtype, accumulated in double); batch_norm_forward normalises with the given per-channel mean and
// rstd. weight and bias are optional ([C]).
struct ChannelStatistics {
  Tensor mean, var;
};
ChannelStatistics batch_norm_statistics(const Tensor& x);
Tensor batch_norm_forward(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                          const Tensor& bias);
// With training, mean and rstd are the batch's (and depend on x); without, they are constants.
NormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& weight, bool training, NormGradsWanted wanted);

}  // namespace graft::kernels
