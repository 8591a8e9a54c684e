#pragma once
// nn::LayerNorm and nn::RMSNorm over the trailing dims given by normalized_shape, with PyTorch's
// parameters: weight (ones) and bias (zeros), each of shape normalized_shape.
//
// LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=true, bias=true) is torch.nn.LayerNorm (the
// `bias` argument is torch 2.1's; PyTorch 1.13 always has a bias when affine).
// RMSNorm(normalized_shape, eps=None, elementwise_affine=true) is torch 2.x's nn.RMSNorm (PyTorch 1.13 has
// none): y = x / sqrt(mean(x^2) + eps) * weight, eps None meaning the machine epsilon of the input's dtype.
#include <optional>

#include "graft/graph/shape.h"
#include "graft/nn/module.h"

namespace graft::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(IntList normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true,
                     DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight;  // normalized_shape, or undefined without elementwise_affine
  Tensor bias;    // normalized_shape, or undefined without elementwise_affine or bias
};

class RMSNorm : public Module {
 public:
  explicit RMSNorm(IntList normalized_shape, std::optional<double> eps = std::nullopt,
                   bool elementwise_affine = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Shape normalized_shape;
  std::optional<double> eps;
  bool elementwise_affine;
  Tensor weight;  // normalized_shape, or undefined without elementwise_affine
};

}  // namespace graft::nn
