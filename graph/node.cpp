#include "graft/graph/node.h"

#include <algorithm>

#include "graft/graph/grad_mode.h"
#include "graft/graph/scope.h"

namespace graft {

namespace {
thread_local uint64_t next_sequence_nr = 0;
}

// ---------------------------------------------------------------- SavedTensor

SavedTensor::SavedTensor(const Tensor& t, bool is_output, uint32_t output_nr)
    : output_nr_(output_nr), is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.version();
  storage_ = t.storage();
  requires_grad_ = t.requires_grad();
  // An output keeps only its data: its grad_fn is the saving node itself, restored on unpack.
  data_ = is_output ? t.detach() : t;
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!data_.defined()) return {};
  // A ZeRO stage 3 parameter released after its module's forward is gathered again here, just before the
  // backward that needs it (graph/storage.h).
  if (data_.storage()->is_released()) [[unlikely]] data_.storage()->restore();
  const std::shared_ptr<Storage> saved_storage = storage_.lock();
  const uint32_t now = saved_storage ? saved_storage->version() : version_;
  GRAFT_CHECK(now == version_,
              "{}: one of the tensors saved for its backward has been modified by an in-place operation: a {} tensor "
              "of shape {} is at version {}, expected version {}. Compute it out of place, or clone it before "
              "modifying it.",
              owner.name(), dtype_name(data_.dtype()), shape_str(data_.shape()), now, version_);
  if (is_output_ && requires_grad_ && GradMode::is_enabled()) {
    // Recording the backward itself (create_graph): the output must lead back to the node that made it.
    Tensor alias = data_.detach();
    alias.impl()->set_grad_fn(const_cast<Node&>(owner).shared_from_this(), output_nr_);
    return alias;
  }
  return data_;
}

// ---------------------------------------------------------------- Node

Node::Node() : sequence_nr_(next_sequence_nr++), scope_(NodeScope::current()) {}

Node::~Node() {
  for (Edge& e : next_edges_) release_node(std::move(e.node));
}

void Node::release_saved() {
  saved_.clear();
  released_ = true;
}

Tensor Node::saved(size_t i) const {
  check_not_released();
  return saved_[i].unpack(*this);
}

void Node::check_not_released() const {
  GRAFT_CHECK(!released_,
              "{}: trying to backward through the graph a second time (or to use its saved tensors after they were "
              "freed). Saved tensors are released after backward; pass retain_graph=true to the first backward "
              "to backward through the graph again.",
              name());
}

void Node::add_input(Edge edge, const Tensor& t) {
  next_edges_.push_back(std::move(edge));
  input_meta_.push_back(t.defined() ? TensorMeta{t.shape(), t.dtype()} : TensorMeta{});
}

uint32_t Node::add_output(const Tensor& t) {
  output_meta_.push_back(TensorMeta{t.shape(), t.dtype()});
  return static_cast<uint32_t>(output_meta_.size() - 1);
}

void Node::run_pre_hooks(GradList& grads) {
  if (pre_hooks_.empty()) return;
  for (int pass = 0; pass < 2; ++pass) {
    for (PreHook& h : pre_hooks_) {
      if (h.runs_last != (pass == 1) || h.output_nr >= grads.size() || !grads[h.output_nr].defined()) continue;
      Tensor replaced = h.fn(grads[h.output_nr]);
      if (replaced.defined()) {
        check_hook_result(replaced, grads[h.output_nr]);
        grads[h.output_nr] = std::move(replaced);
      }
    }
  }
}

void check_hook_result(const Tensor& replaced, const Tensor& grad) {
  GRAFT_CHECK(replaced.shape() == grad.shape(), "hook: returned a gradient of shape {}, expected {}",
              shape_str(replaced.shape()), shape_str(grad.shape()));
  GRAFT_CHECK(replaced.dtype() == grad.dtype(),
              "hook: has changed the type of the gradient (was {}, got {}); a hook must return a gradient of the same "
              "dtype",
              dtype_name(grad.dtype()), dtype_name(replaced.dtype()));
}

Tensor run_tensor_hooks(const std::vector<std::pair<size_t, TensorHook>>& hooks, Tensor grad) {
  for (const auto& [handle, fn] : hooks) {
    Tensor replaced = fn(grad);
    if (replaced.defined()) {
      check_hook_result(replaced, grad);
      grad = std::move(replaced);
    }
  }
  return grad;
}

// ---------------------------------------------------------------- iterative release

namespace {
struct ReleaseQueue {
  std::vector<std::shared_ptr<Node>> pending;
  bool draining = false;
};
ReleaseQueue& release_queue() {
  thread_local ReleaseQueue q;
  return q;
}
}  // namespace

void release_node(std::shared_ptr<Node>&& node) {
  if (!node) return;
  if (node.use_count() > 1) {  // not the last owner: dropping it frees nothing
    node.reset();
    return;
  }
  ReleaseQueue& q = release_queue();
  q.pending.push_back(std::move(node));
  if (q.draining) return;  // an outer release_node on this thread will get to it
  q.draining = true;
  while (!q.pending.empty()) {
    std::shared_ptr<Node> last = std::move(q.pending.back());
    q.pending.pop_back();
    last.reset();  // its destructor queues its own edges here instead of recursing
  }
  q.draining = false;
}

}  // namespace graft
