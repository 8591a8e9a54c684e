#pragma once
// AccumulateGrad: the node at the end of every path to a leaf. It adds the incoming gradient into
// leaf.grad(): the first gradient is adopted (copied if someone else may still write to it), later ones
// are added in place, or out of place when the backward pass is itself being recorded (create_graph).
#include "graft/graph/node.h"

namespace graft::autograd {

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  const char* name() const override { return "AccumulateGrad"; }
  GradList apply(GradList&& grads) override;
  TensorImpl* leaf() const override { return leaf_.get(); }
  void run_pre_hooks(GradList& grads) override;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace graft::autograd
