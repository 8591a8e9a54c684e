#pragma once
// nn::Linear: y = x W^T + b, initialised as in PyTorch (kaiming_uniform_(a=sqrt(5)) for W, which is
// uniform in ±1/sqrt(in_features), and the same bound for b).
#include "graft/nn/module.h"

namespace graft::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), or undefined
};

}  // namespace graft::nn
