#pragma once
// What an op needs to put itself in the graph: make_node creates the backward node (linked to the inputs'
// gradient edges), set_history makes an output the node's. A differentiable op reads like this (the recipe
// is compiled and gradchecked by tests/autograd/op_recipe_test.cpp, which these lines quote):
//
//   Tensor my_tanh(const Tensor& x) {
//     Tensor y = empty_tensor(x.shape(), x.dtype());                      // forward: checks, then a kernel
//     dispatch_floating(x.dtype(), "my_tanh", [&]<class T>() {
//       loops::map1<T, T>(y, x, [](T v) { return std::tanh(v); });
//     });
//     if (auto node = autograd::make_node("MyTanhBackward0", {x}, [](Node& n, GradList& g) -> GradList {
//           Tensor out = n.saved(0);
//           return {g[0] * (1 - out * out)};                                // backward, written with ops
//         })) {
//       autograd::set_history(y, node);
//       node->save_output(y);
//     }
//     return y;
//   }
//
// make_node returns null when nothing is recorded (grad mode off, or no input requires grad), so the
// forward pays for a node only when backward can need it. Backward lambdas are written with ops, which
// makes them differentiable in turn when the engine records the backward pass (create_graph). Users
// writing their own ops usually want autograd/custom_function.h instead, which wraps all of this.
#include <initializer_list>
#include <memory>
#include <string>

#include "graft/autograd/anomaly_mode.h"
#include "graft/graph/grad_mode.h"
#include "graft/graph/node.h"

namespace graft::autograd {

/// The leaf's AccumulateGrad node (created on first use and cached weakly on the leaf).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);

/// Where the gradient of `t` goes: its grad_fn, or its accumulator when it is a leaf requiring grad.
Edge gradient_edge(const Tensor& t);

inline bool any_requires_grad(ArrayRef<Tensor> inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

/// True when an op with these inputs must record a node.
inline bool needs_recording(ArrayRef<Tensor> inputs) { return GradMode::is_enabled() && any_requires_grad(inputs); }

// Anomaly mode's record of where a node is made: `function`, `file` and `line` of the forward op, and the call
// stack (autograd/anomaly_mode.h).
std::unique_ptr<ForwardTrace> capture_forward_trace(const char* function, const char* file, int line);
// "the forward op <function> (<file>:<line>), called from:" and the stack, one frame per line.
std::string describe_forward_trace(const ForwardTrace& trace);

// The defaulted arguments name the caller, the forward op (GCC and clang evaluate these builtins where
// make_node is called); they are used only in anomaly mode.
template <class Fn>
std::shared_ptr<FunctionNode<Fn>> make_node(const char* name, ArrayRef<Tensor> inputs, Fn backward,
                                            const char* function = __builtin_FUNCTION(),
                                            const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  if (!needs_recording(inputs)) return nullptr;
  auto node = std::make_shared<FunctionNode<Fn>>(name, std::move(backward));
  for (const Tensor& t : inputs) node->add_input(t.defined() ? gradient_edge(t) : Edge{}, t);
  if (is_anomaly_enabled()) [[unlikely]] node->set_forward_trace(capture_forward_trace(function, file, line));
  return node;
}

/// Makes `output` the next output of `node` (its grad_fn). Returns the output's number.
uint32_t set_history(const Tensor& output, const std::shared_ptr<Node>& node);

}  // namespace graft::autograd
