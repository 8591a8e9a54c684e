#pragma once
// Node: one step of the backward graph. The node made by a forward op takes the gradients of the op's
// outputs and returns the gradients of its inputs; `next_edges` (one per forward input) say where each of
// those goes. This mirrors torch/csrc/autograd/function.h: Node, Edge, SavedVariable.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "graft/graph/small_vector.h"
#include "graft/graph/tensor.h"

namespace graft {

/// Gradients flowing into or out of a node. Nearly every op has one or two, so they live inline.
using GradList = SmallVector<Tensor, 2>;

/// Where a node was recorded in the forward pass, kept only in anomaly mode (autograd/anomaly_mode.h): the
/// forward op's function and source location (where it called autograd::make_node), and the raw call stack.
struct ForwardTrace {
  const char* function = "";
  const char* file = "";
  int line = 0;
  std::vector<void*> stack;
};

/// Where the gradient of one forward input goes: input slot `input_nr` of `node`. An edge with no node
/// belongs to an input that does not require grad.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
  bool valid() const { return node != nullptr; }
};

/// Shape and dtype of a tensor as the graph saw it; gradients are checked (and broadcasts reduced) against it.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
};

/// A tensor kept for backward. It remembers the storage version at save time, so that an in-place write
/// in between makes backward fail instead of computing with the wrong values. A node's own output is kept
/// without its grad_fn (the node itself), which would otherwise be a reference cycle.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output, uint32_t output_nr);
  /// The saved tensor; `owner` is the node that saved it (it becomes the grad_fn of a saved output).
  Tensor unpack(const Node& owner) const;
  bool defined() const { return data_.defined(); }
  const Tensor& raw() const { return data_; }

 private:
  Tensor data_;
  /// The storage the version was read from. set_data (the optimizer's flat buffers use it) re-binds a tensor
  /// to a copy of its values in new storage without an in-place write, as PyTorch's `.data =` does not bump
  /// the version either: the check then applies to the storage that was saved, not to the new one.
  std::weak_ptr<Storage> storage_;
  uint32_t version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// PyTorch-style name of the backward function, e.g. "MulBackward0".
  virtual const char* name() const = 0;
  /// grads[i] is the gradient of forward output i (undefined ones are zero-filled by the engine when
  /// `wants_defined_grads()`); returns one gradient per next edge (undefined where not needed).
  virtual GradList apply(GradList&& grads) = 0;
  /// Drops saved tensors once backward no longer needs them (after a backward without retain_graph).
  virtual void release_saved();
  /// The leaf this node accumulates into, or null (only AccumulateGrad has one).
  virtual TensorImpl* leaf() const { return nullptr; }
  virtual bool wants_defined_grads() const { return true; }

  // ---- edges: one per forward input ----
  size_t num_inputs() const { return next_edges_.size(); }
  const Edge& next_edge(size_t i) const { return next_edges_[i]; }
  const TensorMeta& input_meta(size_t i) const { return input_meta_[i]; }
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }
  /// Records one forward input: where its gradient goes (autograd::gradient_edge) and its shape and dtype.
  void add_input(Edge edge, const Tensor& t);

  // ---- forward outputs ----
  size_t num_outputs() const { return output_meta_.size(); }
  const TensorMeta& output_meta(size_t i) const { return output_meta_[i]; }
  uint32_t add_output(const Tensor& t);

  // ---- saved tensors ----
  size_t save(const Tensor& t) {
    saved_.emplace_back(t, false, 0);
    return saved_.size() - 1;
  }
  /// Saves this node's own forward output number `output_nr`.
  size_t save_output(const Tensor& t, uint32_t output_nr = 0) {
    saved_.emplace_back(t, true, output_nr);
    return saved_.size() - 1;
  }
  Tensor saved(size_t i) const;
  /// Raises when the saved tensors were released by a backward without retain_graph.
  void check_not_released() const;
  size_t num_saved() const { return saved_.size(); }
  const SavedTensor& saved_entry(size_t i) const { return saved_[i]; }
  bool released() const { return released_; }

  // ---- hooks on the gradients of this node's outputs (tensor hooks of non-leaf tensors) ----
  struct PreHook {
    size_t handle;
    uint32_t output_nr;
    TensorHook fn;
    bool runs_last;  // retain_grad's hook runs after the user's
  };
  std::vector<PreHook>& pre_hooks() { return pre_hooks_; }
  /// Runs the hooks on grads (in registration order, retain_grad last). Overridden by AccumulateGrad
  /// (autograd/), whose hooks live on its leaf.
  virtual void run_pre_hooks(GradList& grads);

  /// Creation order on this thread: the engine runs ready nodes latest-created first, as PyTorch does.
  uint64_t sequence_nr() const { return sequence_nr_; }
  /// The NodeScope that was open when the node was created (graph/scope.h; 0: none), e.g. a module's call.
  uint32_t scope() const { return scope_; }

  /// The forward pass's record of this node (anomaly mode only; null otherwise).
  const ForwardTrace* forward_trace() const { return forward_trace_.get(); }
  void set_forward_trace(std::unique_ptr<ForwardTrace> trace) { forward_trace_ = std::move(trace); }

  /// Scratch space of the backward engine for the run in progress (see autograd/engine.cpp).
  struct EngineState {
    std::atomic<uint64_t> owner{0};  // id of the run that has claimed this node, 0 when none has
    uint32_t pending = 0;   // edges into this node not yet executed in that run
    bool needed = true;     // leads to a requested input (autograd::grad)
    bool captured = false;  // some input slot is captured by autograd::grad
    GradList buffer;        // gradients received so far, one per forward output
  };
  EngineState& engine_state() { return engine_; }

 protected:
  SmallVector<Edge, 2> next_edges_;
  SmallVector<TensorMeta, 2> input_meta_;
  SmallVector<TensorMeta, 1> output_meta_;
  SmallVector<SavedTensor, 2> saved_;
  bool released_ = false;

 private:
  std::vector<PreHook> pre_hooks_;
  uint64_t sequence_nr_;
  uint32_t scope_;
  EngineState engine_;
  std::unique_ptr<ForwardTrace> forward_trace_;
};

/// The backward node of an op whose backward is a lambda `GradList(Node&, GradList& grads)`. Lambdas
/// capture only non-tensor arguments (dims, scalars); tensors are saved through save()/saved().
template <class Fn>
class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, Fn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  GradList apply(GradList&& grads) override { return fn_(*this, grads); }

 private:
  const char* name_;
  Fn fn_;
};

/// A hook's replacement for `grad`, checked as PyTorch checks it: it must keep the gradient's shape and dtype.
void check_hook_result(const Tensor& replaced, const Tensor& grad);

/// Runs the tensor hooks of `impl` (leaf or not) on `grad`, returning the possibly replaced gradient.
Tensor run_tensor_hooks(const std::vector<std::pair<size_t, TensorHook>>& hooks, Tensor grad);

/// Drops a reference to a node without recursion: the last reference to a long chain of nodes is released
/// iteratively (PyTorch's deleteNode), so that freeing a million-op graph cannot overflow the stack.
void release_node(std::shared_ptr<Node>&& node);

}  // namespace graft
