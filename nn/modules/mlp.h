#pragma once
// nn::MLP: a multi-layer perceptron laid out exactly as torchvision.ops.MLP, so its state dicts load into
// either: MLP(in, {h1, ..., hk, out}) and MLP({in, h1, ..., hk, out}) are torchvision's
// MLP(in, [h1, ..., hk, out]), a Sequential of
//   per hidden layer:  Linear(prev, h), [norm_layer(h)], activation, Dropout(dropout)
//   then:              Linear(prev, out), Dropout(dropout)
// so its parameters are named like a Sequential's: "0.weight", "0.bias", "3.weight", ... (with a norm
// layer every block has four children). The Dropouts are there even for dropout = 0, as in torchvision.
// graft's addition: activate_output puts an activation after the last Linear too (before its Dropout),
// for MLPs whose output must be non-negative or bounded; it shifts no parameter names.
#include <functional>
#include <vector>

#include "graft/nn/modules/activation.h"
#include "graft/nn/modules/container.h"

namespace graft::nn {

struct MLPOptions {
  ActivationFactory activation = "relu";  // a name for make_activation, or a function making a module
  double dropout = 0.0;
  bool bias = true;
  std::function<ModulePtr(int64_t)> norm_layer = nullptr;  // e.g. a LayerNorm of the given width; none by default
  bool activate_output = false;
  DType dtype = kFloat32;
};

class MLP : public Sequential {
 public:
  explicit MLP(std::vector<int64_t> sizes, MLPOptions options = {});
  MLP(std::vector<int64_t> sizes, ActivationFactory activation, double dropout = 0.0);
  /// torchvision's signature: MLP(in_channels, hidden_channels), the last hidden size being the output's,
  /// e.g. MLP(8, {16, 16, 3}) == MLP({8, 16, 16, 3}).
  MLP(int64_t in_channels, std::vector<int64_t> hidden_channels, MLPOptions options = {});

  std::vector<int64_t> sizes;
};

}  // namespace graft::nn
