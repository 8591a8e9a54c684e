// The Tensor methods that change how a tensor takes part in autograd (declared in graph/tensor.h).
#include <atomic>

#include "graft/autograd/function.h"
#include "graft/autograd/grad_arithmetic.h"
#include "graft/graph/tensor.h"

namespace graft {

namespace {
std::atomic<size_t> next_hook_handle{1};
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  GRAFT_CHECK(defined(), "requires_grad_: the tensor is undefined");
  if (!is_leaf()) {
    GRAFT_CHECK(requires_grad,
                "requires_grad_: only the requires_grad flag of a leaf can be changed (this tensor has grad_fn {}); use "
                "detach() to take it out of the graph",
                grad_fn()->name());
    return *this;
  }
  GRAFT_CHECK(!requires_grad || is_floating(dtype()),
              "requires_grad_: only floating-point tensors can require gradients, got {}", dtype_name(dtype()));
  impl()->set_requires_grad(requires_grad);
  return *this;
}

void Tensor::retain_grad() {
  GRAFT_CHECK(requires_grad(), "retain_grad: cannot retain the gradient of a tensor that does not require grad");
  if (is_leaf()) return;  // leaves keep their gradient anyway
  TensorImpl::Hooks& hooks = impl()->ensure_hooks();
  if (hooks.retains_grad) return;
  hooks.retains_grad = true;
  // The hook holds the tensor weakly: the graph must not keep alive the tensors it produced.
  std::weak_ptr<TensorImpl> weak = impl_ptr();
  grad_fn()->pre_hooks().push_back(Node::PreHook{
      next_hook_handle++, output_nr(),
      [weak](const Tensor& g) -> Tensor {
        if (auto impl = weak.lock()) {
          const autograd::GradArithmetic& ops = autograd::grad_arithmetic();
          Tensor& grad = impl->grad();
          grad = grad.defined() ? ops.add(grad, g) : (GradMode::is_enabled() ? g : ops.clone(g.detach()));
        }
        return {};
      },
      /*runs_last=*/true});
}

size_t Tensor::add_hook(TensorHook hook) {
  GRAFT_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that does not require grad");
  size_t handle = next_hook_handle++;
  if (is_leaf()) impl()->ensure_hooks().hooks.emplace_back(handle, std::move(hook));
  else grad_fn()->pre_hooks().push_back(Node::PreHook{handle, output_nr(), std::move(hook), false});
  return handle;
}

size_t Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) {
  GRAFT_CHECK(defined(), "register_post_accumulate_grad_hook: the tensor is undefined");
  GRAFT_CHECK(requires_grad(),
              "register_post_accumulate_grad_hook: cannot register a hook on a tensor that does not require grad");
  GRAFT_CHECK(is_leaf(),
              "register_post_accumulate_grad_hook: only leaf tensors accumulate gradients (this tensor has grad_fn {})",
              grad_fn()->name());
  GRAFT_CHECK(static_cast<bool>(hook), "register_post_accumulate_grad_hook: the hook is empty");
  size_t handle = next_hook_handle++;
  impl()->ensure_hooks().post_accumulate.emplace_back(handle, std::move(hook));
  return handle;
}

void Tensor::remove_hook(size_t handle) {
  GRAFT_CHECK(defined(), "remove_hook: the tensor is undefined");
  if (auto* hooks = impl()->hooks()) {
    std::erase_if(hooks->hooks, [handle](const auto& h) { return h.first == handle; });
    std::erase_if(hooks->post_accumulate, [handle](const auto& h) { return h.first == handle; });
  }
  if (grad_fn()) std::erase_if(grad_fn()->pre_hooks(), [handle](const Node::PreHook& h) { return h.handle == handle; });
}

}  // namespace graft
