#pragma once
// Normalisation layers as functions, after torch.nn.functional: layer_norm, rms_norm and batch_norm.
// Each has a fused backward for input, weight and bias (oneDNN's layer normalization for large float32
// inputs, plain loops otherwise) and, under create_graph, the same gradients from differentiable ops, so
// double backward works. Weight, bias and running statistics must have the input's dtype, as in PyTorch.
#include <optional>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// (x - mean) / sqrt(var + eps) * weight + bias over the trailing dims given by normalized_shape (biased
/// variance); weight and bias are optional and have shape normalized_shape.
Tensor layer_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);

/// x / sqrt(mean(x^2) + eps) * weight over the trailing dims given by normalized_shape. PyTorch 1.13 has
/// no rms_norm: this follows torch 2.x's F.rms_norm(input, normalized_shape, weight=None, eps=None),
/// where eps defaults to the machine epsilon of the input's dtype (torch.finfo(dtype).eps: 1.19e-7 for
/// float32, 2.22e-16 for float64).
Tensor rms_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight = {},
                std::optional<double> eps = std::nullopt);
/// graft shorthand: normalized_shape taken from weight's shape.
Tensor rms_norm(const Tensor& input, const Tensor& weight, std::optional<double> eps = std::nullopt);

/// Batch normalisation of input (N, C, *) per channel C: (N, C) and (N, C, L) for BatchNorm1d, (N, C, H, W) for
/// BatchNorm2d.
/// training: normalises with the batch's mean and biased variance over every dim but 1, and, when given,
/// updates running_mean and running_var in place (outside autograd; their version counters are bumped):
///   running_mean = (1 - momentum) * running_mean + momentum * batch_mean
///   running_var  = (1 - momentum) * running_var  + momentum * batch_var * n / (n - 1)   (unbiased)
/// with n = numel / C values per channel (N * L, N * H * W), which must exceed 1.
/// Not training: normalises with running_mean and running_var, which must then be given.
/// running_mean/running_var are buffers: they get no gradient and must not require grad.
/// A bfloat16/float16 input with float32 parameters and statistics (PyTorch's mixed type) normalises in
/// float32 and returns the input's dtype; otherwise every tensor given must have the input's dtype.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace graft::nn::functional
