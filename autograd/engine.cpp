// The backward engine (after torch/csrc/autograd/engine.cpp), single-threaded and free of recursion. One
// call of backward() or grad() is one GraphTask, run in three named steps:
//   1. compute_dependencies: walk every node reachable from the roots with an explicit stack, counting the
//      edges that enter each one;
//   2. mark_needed (grad() only): in the same walk's post-order, mark the nodes that lead to a captured
//      input, so that only those run;
//   3. execute: run nodes from a ready queue (latest-created first, as PyTorch) once all their dependencies
//      have run; each node's incoming gradients are summed per input slot, its pre-hooks run, a captured
//      slot's gradient is recorded (capture), and the gradients it returns are checked against its inputs'
//      shapes and dtypes (broadcasts reduced with sum_to, as PyTorch's validate_outputs does).
// Invariants: a node runs at most once per task and only after every edge into it has delivered (or has
// been skipped); its saved tensors are released right after it runs unless the graph is kept; the per-task
// bookkeeping lives in each node (Node::EngineState), so a task costs no hash maps. A task claims every node it
// visits (an atomic compare-and-swap of the node's owner) and releases them when it ends; a node claimed by
// another task that is still running -- a backward started from a hook of this one, or one on another thread
// -- makes the new task raise graft::Error instead of mixing both tasks' sums. In anomaly mode
// (autograd/anomaly_mode.h) every gradient a node returns is checked for NaN and infinity.
#include "graft/autograd/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <queue>

#include "graft/autograd/function.h"
#include "graft/autograd/grad_arithmetic.h"
#include "graft/autograd/profiler.h"
#include "graft/graph/autocast_mode.h"
#include "graft/graph/factory.h"
#include "graft/graph/node.h"
#include "graft/graph/warning.h"

namespace graft::autograd {

namespace {

std::atomic<uint64_t> next_run_id{1};

// The tasks running on this thread, innermost last (a hook may start a backward of its own).
thread_local std::vector<uint64_t> running_here;

// True when every element of a floating gradient is finite.
bool all_finite(const Tensor& g) {
  if (!is_floating(g.dtype())) return true;
  bool finite = true;
  dispatch_floating(g.dtype(), "detect_anomaly", [&]<class T>() {
    for (T v : g.to_vector<T>()) finite = finite && std::isfinite(v);
  });
  return finite;
}

bool any_nan(const Tensor& g) {
  bool nan = false;
  dispatch_floating(g.dtype(), "detect_anomaly", [&]<class T>() {
    for (T v : g.to_vector<T>()) nan = nan || std::isnan(v);
  });
  return nan;
}

// Anomaly mode: the first non-finite gradient a node returns is an error naming the node and where its forward
// op was recorded.
void check_anomaly(const Node& node, const GradList& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined() || all_finite(outputs[i])) continue;
    const ForwardTrace* trace = node.forward_trace();
    GRAFT_FAIL("detect_anomaly: Function '{}' returned {} values in its {}th output. It was created by {}", node.name(),
               any_nan(outputs[i]) ? "nan" : "inf", i,
               trace ? describe_forward_trace(*trace)
                     : std::string("a forward pass recorded before anomaly detection was turned on (no trace)"));
  }
}

struct Capture {
  Node* node;
  uint32_t slot;
  Tensor grad;
};

struct ByCreationOrder {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

// Sums `g` into a node's input slot.
void accumulate(GradList& buffer, size_t slot, Tensor&& g) {
  if (!buffer[slot].defined()) buffer[slot] = std::move(g);
  else buffer[slot] = grad_arithmetic().add(buffer[slot], g);
}

// Checks the gradient a node produced for its input i, and adapts it to the input's shape and dtype.
Tensor validate_gradient(const Node& node, size_t i, Tensor g) {
  const TensorMeta& meta = node.input_meta(i);
  const GradArithmetic& ops = grad_arithmetic();
  if (!(g.shape() == meta.shape)) {
    GRAFT_CHECK(is_expandable_to(meta.shape, g.shape()),
                "{}: returned a gradient of shape {} for input {}, which has shape {}", node.name(),
                shape_str(g.shape()), i, shape_str(meta.shape));
    g = ops.sum_to(g, meta.shape);
  }
  if (g.dtype() != meta.dtype) {
    GRAFT_CHECK(is_floating(g.dtype()), "{}: returned a {} gradient for input {}", node.name(), dtype_name(g.dtype()), i);
    g = ops.to_dtype(g, meta.dtype);
  }
  return g;
}

class GraphTask {
 public:
  // `captures` (may be empty) lists input slots whose incoming gradient is wanted instead of being
  // propagated; when it is non-empty only the nodes leading to a capture run.
  GraphTask(const std::vector<Edge>& roots, bool keep_graph, std::vector<Capture>& captures)
      : roots_(roots), keep_graph_(keep_graph), captures_(captures), run_(next_run_id.fetch_add(1)) {}

  void run(GradList&& root_grads) {
    running_here.push_back(run_);
    try {
      compute_dependencies();
      execute(std::move(root_grads));
    } catch (...) {
      finish();
      throw;
    }
    finish();
  }

 private:
  // First visit of `n` in this task: claims it and resets its state. False when this task has visited it.
  bool visit(Node* n) {
    Node::EngineState& st = n->engine_state();
    uint64_t owner = 0;
    if (!st.owner.compare_exchange_strong(owner, run_, std::memory_order_acq_rel)) {
      if (owner == run_) return false;
      const bool reentrant = std::find(running_here.begin(), running_here.end(), owner) != running_here.end();
      GRAFT_FAIL("backward: {} of this graph is in use by another backward that is still running {}; graft's engine "
                 "cannot run two backward passes through the same nodes at once (it would mix their gradients). {}",
                 n->name(), reentrant ? "on this thread (a backward started from a hook of that backward?)"
                                      : "on another thread",
                 reentrant ? "Run the inner backward after the outer one, or on a separate graph."
                           : "Serialise the backward passes, or give each thread its own graph.");
    }
    seen_.push_back(n);
    st.pending = 0;
    st.needed = captures_.empty();
    st.captured = false;
    st.buffer.clear();
    for (const Capture& c : captures_)
      if (c.node == n) st.captured = true;
    return true;
  }

  // Steps 1 and 2: dependency counts, and (for grad()) which nodes lead to a capture.
  void compute_dependencies() {
    struct Frame {
      Node* node;
      size_t next_child;
    };
    std::vector<Frame> stack;
    for (const Edge& r : roots_)
      if (visit(r.node.get())) stack.push_back({r.node.get(), 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.next_child < f.node->num_inputs()) {
        const Edge& e = f.node->next_edge(f.next_child++);
        if (!e.valid()) continue;
        Node* child = e.node.get();
        const bool fresh = visit(child);
        child->engine_state().pending++;
        if (fresh) stack.push_back({child, 0});
        continue;
      }
      if (!captures_.empty()) mark_needed(f.node);  // post-order: every child is done
      stack.pop_back();
    }
  }

  // A node runs for grad() when one of its children receives a capture or runs itself.
  static void mark_needed(Node* n) {
    bool needed = false;
    for (size_t i = 0; i < n->num_inputs() && !needed; ++i) {
      const Edge& e = n->next_edge(i);
      if (!e.valid()) continue;
      const Node::EngineState& cs = e.node->engine_state();
      needed = cs.captured || cs.needed;
    }
    n->engine_state().needed = needed;
  }

  // Step 3.
  void execute(GradList&& root_grads) {
    for (size_t i = 0; i < roots_.size(); ++i) {
      Node* n = roots_[i].node.get();
      Node::EngineState& st = n->engine_state();
      if (st.buffer.size() < n->num_outputs()) st.buffer.resize(n->num_outputs());
      accumulate(st.buffer, roots_[i].input_nr, std::move(root_grads[i]));
    }
    for (const Edge& r : roots_) {
      Node* n = r.node.get();
      if (n->engine_state().pending == 0) {
        n->engine_state().pending = UINT32_MAX;  // queued once even if it is the root of several tensors
        ready_.push(n);
      }
    }
    while (!ready_.empty()) {
      Node* node = ready_.top();
      ready_.pop();
      evaluate(node);
    }
  }

  // Runs one node and hands its gradients to the nodes of its inputs.
  void evaluate(Node* node) {
    Node::EngineState& st = node->engine_state();
    GradList grads = std::move(st.buffer);
    st.buffer.clear();
    grads.resize(node->num_outputs());
    node->run_pre_hooks(grads);
    if (st.captured) capture(node, grads);
    if (!st.needed) return;

    const bool any_defined = std::any_of(grads.begin(), grads.end(), [](const Tensor& g) { return g.defined(); });
    GradList outputs;
    if (any_defined) {
      if (node->wants_defined_grads())
        for (size_t i = 0; i < grads.size(); ++i)
          if (!grads[i].defined()) grads[i] = zeros(node->output_meta(i).shape, node->output_meta(i).dtype);
      {
        profiler::RecordFunction record(*node);
        outputs = node->apply(std::move(grads));
      }
      GRAFT_CHECK(outputs.size() == node->num_inputs() || (outputs.empty() && node->num_inputs() == 0),
                  "{}: backward returned {} gradients, expected {}", node->name(), outputs.size(), node->num_inputs());
      if (is_anomaly_check_nan_enabled()) [[unlikely]] check_anomaly(*node, outputs);
    }
    if (!keep_graph_) node->release_saved();

    for (size_t i = 0; i < node->num_inputs(); ++i) {
      const Edge& e = node->next_edge(i);
      if (!e.valid()) continue;
      Node* child = e.node.get();
      Node::EngineState& cs = child->engine_state();
      if (i < outputs.size() && outputs[i].defined()) {
        if (cs.buffer.size() < child->num_outputs()) cs.buffer.resize(child->num_outputs());
        accumulate(cs.buffer, e.input_nr, validate_gradient(*node, i, std::move(outputs[i])));
      }
      if (--cs.pending == 0) ready_.push(child);
    }
  }

  // Records the gradients grad() asked for at this node's input slots.
  void capture(Node* node, const GradList& grads) {
    for (Capture& c : captures_)
      if (c.node == node && grads[c.slot].defined()) c.grad = grads[c.slot];
  }

  // Drops the buffered gradients and releases every node this task claimed.
  void finish() {
    for (Node* n : seen_) {
      n->engine_state().buffer.clear();
      n->engine_state().owner.store(0, std::memory_order_release);
    }
    running_here.pop_back();
  }

  const std::vector<Edge>& roots_;
  const bool keep_graph_;
  std::vector<Capture>& captures_;
  const uint64_t run_;
  std::vector<Node*> seen_;
  std::priority_queue<Node*, std::vector<Node*>, ByCreationOrder> ready_;
};

// Runs one backward pass, recording it when create_graph.
void run_backward(const std::vector<Edge>& roots, GradList&& root_grads, bool keep_graph, bool create_graph,
                  std::vector<Capture>& captures) {
  AutoGradMode grad_mode(create_graph);
  graft::detail::AutocastSuspend no_autocast;  // each backward computes in the dtypes its forward recorded
  GraphTask(roots, keep_graph, captures).run(std::move(root_grads));
}

// The root edge and seed gradient of one output tensor.
void add_root(const char* api, const Tensor& t, const Tensor& g, size_t index, std::vector<Edge>& roots,
              GradList& grads) {
  GRAFT_CHECK(t.defined(), "{}: tensor {} is undefined", api, index);
  GRAFT_CHECK(t.requires_grad(), "{}: tensor {} does not require grad and does not have a grad_fn", api, index);
  Tensor seed = g;
  if (!seed.defined()) {
    GRAFT_CHECK(t.numel() == 1,
                "{}: grad can be implicitly created only for scalar outputs, but tensor {} has shape {}; pass a "
                "gradient of that shape",
                api, index, shape_str(t.shape()));
    seed = ones(t.shape(), t.dtype());
  } else {
    GRAFT_CHECK(seed.shape() == t.shape(), "{}: gradient {} has shape {}, but its tensor has shape {}", api, index,
                shape_str(seed.shape()), shape_str(t.shape()));
    if (seed.dtype() != t.dtype()) seed = grad_arithmetic().to_dtype(seed, t.dtype());
  }
  roots.push_back(gradient_edge(t));
  grads.push_back(std::move(seed));
}

std::vector<Capture> capture_edges(const char* api, const TensorList& inputs) {
  std::vector<Capture> captures;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    GRAFT_CHECK(t.defined() && t.requires_grad(), "{}: input {} does not require grad", api, i);
    Edge e = gradient_edge(t);
    captures.push_back({e.node.get(), e.input_nr, Tensor()});
  }
  return captures;
}

}  // namespace

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  GRAFT_CHECK(!outputs.empty(), "grad: no outputs given");
  GRAFT_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
              "grad: got {} grad_outputs for {} outputs", grad_outputs.size(), outputs.size());
  std::vector<Edge> roots;
  GradList seeds;
  for (size_t i = 0; i < outputs.size(); ++i)
    add_root("grad", outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i], i, roots, seeds);
  // Keep every capture node alive for the run (a leaf's accumulator may exist only through this list).
  std::vector<std::shared_ptr<Node>> keep_alive;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) keep_alive.push_back(gradient_edge(t).node);
  std::vector<Capture> captures = capture_edges("grad", inputs);
  run_backward(roots, std::move(seeds), retain_graph.value_or(create_graph), create_graph, captures);
  TensorList result;
  for (size_t i = 0; i < captures.size(); ++i) {
    GRAFT_CHECK(captures[i].grad.defined() || allow_unused,
                "grad: input {} was not used in the graph of the outputs; pass allow_unused=true if this is intended",
                i);
    result.push_back(std::move(captures[i].grad));
  }
  return result;
}

void backward(const TensorList& tensors, const TensorList& grad_tensors, std::optional<bool> retain_graph,
              bool create_graph, const TensorList& inputs) {
  GRAFT_CHECK(!tensors.empty(), "backward: no tensors given");
  GRAFT_CHECK(grad_tensors.empty() || grad_tensors.size() == tensors.size(),
              "backward: got {} gradients for {} tensors", grad_tensors.size(), tensors.size());
  if (create_graph)
    warn("Using backward() with create_graph=True will create a reference cycle between the parameter and its "
         "gradient which can cause a memory leak. We recommend using autograd.grad when creating the graph to "
         "avoid this. If you have to use this function, make sure to reset the .grad fields of your parameters to "
         "None after use to break the cycle and avoid the leak.");
  if (!inputs.empty()) {
    TensorList grads = grad(tensors, inputs, grad_tensors, retain_graph, create_graph, /*allow_unused=*/true);
    AutoGradMode mode(create_graph);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!grads[i].defined()) continue;
      Tensor& g = inputs[i].impl()->grad();
      g = g.defined() ? grad_arithmetic().add(g, grads[i]) : create_graph ? grads[i] : grad_arithmetic().clone(grads[i]);
    }
    return;
  }
  std::vector<Edge> roots;
  GradList seeds;
  for (size_t i = 0; i < tensors.size(); ++i)
    add_root("backward", tensors[i], grad_tensors.empty() ? Tensor() : grad_tensors[i], i, roots, seeds);
  std::vector<Capture> none;
  run_backward(roots, std::move(seeds), retain_graph.value_or(create_graph), create_graph, none);
}

}  // namespace graft::autograd

namespace graft {

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      const TensorList& inputs) const {
  autograd::backward({*this}, gradient.defined() ? TensorList{gradient} : TensorList{}, retain_graph, create_graph,
                     inputs);
}

}  // namespace graft
