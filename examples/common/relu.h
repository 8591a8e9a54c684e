#pragma once
// nn.ReLU as a module, so that an MLP is one nn::Sequential. (graft's own activation modules are being
// written on another branch; this one goes once nn::ReLU lands.)
#include <graft/nn/module.h>
#include <graft/ops/activation.h>

namespace graft::examples {

class ReLU : public nn::Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override {
    ForwardCall call(*this);
    return nn::functional::relu(input);
  }
};

}  // namespace graft::examples
