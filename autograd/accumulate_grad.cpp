#include "graft/autograd/accumulate_grad.h"

#include "graft/autograd/function.h"
#include "graft/autograd/grad_arithmetic.h"

namespace graft::autograd {

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
  output_meta_.push_back(TensorMeta{leaf_->shape(), leaf_->dtype()});
}

void AccumulateGrad::run_pre_hooks(GradList& grads) {
  if (leaf_->hooks() && !leaf_->hooks()->hooks.empty() && grads[0].defined())
    grads[0] = run_tensor_hooks(leaf_->hooks()->hooks, std::move(grads[0]));
}

GradList AccumulateGrad::apply(GradList&& grads) {
  Tensor incoming = std::move(grads[0]);
  if (!incoming.defined()) return {};
  const GradArithmetic& ops = grad_arithmetic();
  Tensor& grad = leaf_->grad();
  if (!grad.defined()) {
    if (GradMode::is_enabled()) {
      grad = incoming;  // create_graph: .grad keeps its history
    } else {
      // Adopt the buffer only when nothing else can see it; later backward calls add into it in place.
      bool sole_owner = incoming.impl_ptr().use_count() == 1 && incoming.storage().use_count() == 1 &&
                        incoming.is_contiguous() && !incoming.requires_grad();
      grad = sole_owner ? incoming : ops.clone(incoming.detach());
    }
  } else if (GradMode::is_enabled()) {
    grad = ops.add(grad, incoming);
  } else {
    ops.add_inplace(grad, incoming);
  }
  if (leaf_->hooks() && !leaf_->hooks()->post_accumulate.empty()) {
    const Tensor leaf(leaf_);
    // A copy: a hook may register or remove hooks.
    const auto hooks = leaf_->hooks()->post_accumulate;
    for (const auto& [handle, hook] : hooks) hook(leaf);
  }
  return {};
}

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  std::weak_ptr<Node>& slot = leaf.impl()->grad_accumulator_slot();
  std::shared_ptr<Node> acc = slot.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(leaf.impl_ptr());
    slot = acc;
  }
  return acc;
}

Edge gradient_edge(const Tensor& t) {
  if (t.grad_fn()) return Edge{t.grad_fn(), t.output_nr()};
  if (t.requires_grad()) return Edge{grad_accumulator(t), 0};
  return Edge{};
}

uint32_t set_history(const Tensor& output, const std::shared_ptr<Node>& node) {
  uint32_t nr = node->add_output(output);
  output.impl()->set_grad_fn(node, nr);
  return nr;
}

}  // namespace graft::autograd
