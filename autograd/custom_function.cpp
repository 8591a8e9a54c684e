#include "graft/autograd/custom_function.h"

#include <algorithm>
#include <cstdlib>

#include "graft/graph/dtype.h"

namespace graft::autograd {

// ---------------------------------------------------------------- SavedValue

namespace {

const char* kind_of(const std::variant<std::monostate, double, int64_t, bool, std::string, Tensor, std::vector<int64_t>,
                                       std::vector<double>, TensorList, std::any>& v) {
  static const char* names[] = {"nothing", "a double",  "an int",     "a bool", "a string",
                                "a Tensor", "an int vector", "a double vector", "a TensorList", "a value of another type"};
  return names[v.index()];
}

}  // namespace

void SavedValue::throw_wrong_type(const char* wanted) const {
  GRAFT_FAIL("AutogradContext::saved_data: asked for {} but the value holds {}", wanted, kind_of(value_));
}

double SavedValue::toDouble() const {
  if (auto* d = std::get_if<double>(&value_)) return *d;
  if (auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
  if (auto* b = std::get_if<bool>(&value_)) return *b ? 1.0 : 0.0;
  throw_wrong_type("a double");
}

int64_t SavedValue::toInt() const {
  if (auto* i = std::get_if<int64_t>(&value_)) return *i;
  if (auto* b = std::get_if<bool>(&value_)) return *b ? 1 : 0;
  throw_wrong_type("an int");
}

bool SavedValue::toBool() const {
  if (auto* b = std::get_if<bool>(&value_)) return *b;
  throw_wrong_type("a bool");
}

const std::string& SavedValue::toStringRef() const {
  if (auto* s = std::get_if<std::string>(&value_)) return *s;
  throw_wrong_type("a string");
}

Tensor SavedValue::toTensor() const {
  if (auto* t = std::get_if<Tensor>(&value_)) return *t;
  throw_wrong_type("a Tensor");
}

std::vector<int64_t> SavedValue::toIntVector() const {
  if (auto* v = std::get_if<std::vector<int64_t>>(&value_)) return *v;
  throw_wrong_type("an int vector");
}

std::vector<double> SavedValue::toDoubleVector() const {
  if (auto* v = std::get_if<std::vector<double>>(&value_)) return *v;
  throw_wrong_type("a double vector");
}

TensorList SavedValue::toTensorVector() const {
  if (auto* v = std::get_if<TensorList>(&value_)) return *v;
  throw_wrong_type("a TensorList");
}

// ---------------------------------------------------------------- AutogradContext

void AutogradContext::save_for_backward(TensorList to_save) { to_save_ = std::move(to_save); }

TensorList AutogradContext::get_saved_variables() const {
  if (!node_) return to_save_;  // nothing recorded: forward may still read back what it saved
  return node_->unpack_saved();
}

void AutogradContext::mark_non_differentiable(const TensorList& outputs) {
  for (const Tensor& t : outputs)
    if (t.defined()) non_differentiable_.push_back(t.impl());
}

bool AutogradContext::needs_input_grad(size_t index) const {
  GRAFT_CHECK(index < needs_input_grad_.size(),
              "AutogradContext::needs_input_grad: index {} is out of range for a forward of {} arguments", index,
              needs_input_grad_.size());
  return needs_input_grad_[index];
}

// ---------------------------------------------------------------- the node

void CustomFunctionNodeBase::save_for_backward_after_forward(const TensorList& outputs) {
  for (const Tensor& t : ctx_.to_save_) {
    if (!t.defined()) {
      save(t);
      continue;
    }
    // An output is kept without its grad_fn (this node), which would be a reference cycle; unpacking it
    // under create_graph links it back. Outputs are matched by identity, as forward returned them.
    auto it = std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& o) { return o.is_same(t); });
    const bool is_output = it != outputs.end() && t.grad_fn().get() == this;
    if (is_output) save_output(t, static_cast<uint32_t>(it - outputs.begin()));
    else save(t);
  }
}

TensorList CustomFunctionNodeBase::unpack_saved() const {
  check_not_released();
  TensorList out;
  for (size_t i = 0; i < num_saved(); ++i) out.push_back(saved(i));
  return out;
}

namespace {

// Stands between a once-differentiable function's gradients and whatever is recorded after them: going
// back through it raises.
class OnceDifferentiableError final : public Node {
 public:
  explicit OnceDifferentiableError(std::string function) : function_(std::move(function)) {}
  const char* name() const override { return "OnceDifferentiableBackward"; }
  GradList apply(GradList&&) override {
    GRAFT_FAIL("{}: trying to differentiate twice a function that was marked once_differentiable (its backward is "
               "not differentiable); write its backward with graft ops to get second derivatives",
               function_);
  }

 private:
  std::string function_;
};

}  // namespace

void CustomFunctionNodeBase::add_argument(const Tensor& t) {
  add_input(t.defined() ? gradient_edge(t) : Edge{}, t);
  is_tensor_input_.push_back(t.defined());
}

TensorList CustomFunctionNodeBase::record_outputs(TensorList outputs, const TensorList& inputs) {
  for (Tensor& out : outputs) {
    GRAFT_CHECK(out.defined(), "{}: forward returned an undefined tensor", name());
    const bool non_differentiable =
        std::find(ctx_.non_differentiable_.begin(), ctx_.non_differentiable_.end(), out.impl()) !=
        ctx_.non_differentiable_.end();
    if (non_differentiable || !is_floating(out.dtype())) {
      add_output(out);  // a slot, so that backward gets one gradient per output
      continue;
    }
    const bool is_input =
        std::any_of(inputs.begin(), inputs.end(), [&](const Tensor& in) { return in.defined() && in.is_same(out); });
    if (is_input || out.requires_grad()) out = out.detach();  // its own history stays as it is
    set_history(out, shared_from_this());
  }
  return outputs;
}

GradList CustomFunctionNodeBase::apply(GradList&& grads) {
  TensorList grad_outputs(grads.begin(), grads.end());
  TensorList result;
  const bool recording = GradMode::is_enabled();
  if (once_differentiable_) {
    AutoGradMode no_grad(false);
    result = call_backward(ctx_, std::move(grad_outputs));
  } else {
    result = call_backward(ctx_, std::move(grad_outputs));
  }
  const size_t expected = num_inputs();
  // LibTorch lets backward return extra undefined gradients; anything else must match the arguments.
  const bool extra_undefined = result.size() > expected &&
                               std::all_of(result.begin() + static_cast<std::ptrdiff_t>(expected), result.end(),
                                           [](const Tensor& g) { return !g.defined(); });
  GRAFT_CHECK(result.size() == expected || extra_undefined,
              "{}: backward returned {} gradients, expected {} (one per argument of forward, TensorList elements "
              "counted one by one; Tensor() for non-tensor arguments and for inputs that need no gradient)",
              name(), result.size(), expected);
  result.resize(expected);
  GradList out;
  for (size_t i = 0; i < expected; ++i) {
    GRAFT_CHECK(!result[i].defined() || is_tensor_input_[i],
                "{}: backward returned a gradient for argument {} of forward, which is not a tensor (return Tensor())",
                name(), i);
    // A gradient for an input that needs none is dropped (the input has no edge to take it).
    out.push_back(needs_input_grad(i) ? std::move(result[i]) : Tensor());
  }
  if (once_differentiable_ && recording) {
    // Recording a backward that is not differentiable (create_graph): its results lead to a node that
    // raises when reached, as PyTorch's DelayedError does, instead of silently having no derivative.
    auto error = std::make_shared<OnceDifferentiableError>(name_);
    for (const Tensor& g : grads) error->add_input(g.defined() && g.requires_grad() ? gradient_edge(g) : Edge{}, g);
    for (Tensor& g : out) {
      if (!g.defined()) continue;
      g = g.detach();
      set_history(g, error);
    }
  }
  return out;
}

}  // namespace graft::autograd
