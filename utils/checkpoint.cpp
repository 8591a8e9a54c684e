#include "graft/utils/checkpoint.h"

#include <optional>
#include <string>

#include "graft/autograd/custom_function.h"
#include "graft/autograd/engine.h"
#include "graft/graph/error.h"
#include "graft/graph/generator.h"
#include "graft/graph/grad_mode.h"
#include "graft/graph/warning.h"

namespace graft::utils {

namespace {

using Body = std::function<TensorList(const TensorList&)>;

// The checkpoint as a custom function: forward runs the body without a graph (Function::apply turns grad
// mode off) and keeps only the inputs; backward runs it again with grad mode on and back-propagates.
struct Checkpoint : autograd::Function<Checkpoint> {
  static const char* name() { return "CheckpointFunctionBackward"; }
  // The recomputation's backward is a separate pass through graft's engine: it cannot itself be recorded.
  static constexpr bool once_differentiable = true;

  // What backward needs of each input when the inputs are packed (CheckpointOptions::pack_input).
  struct PackedInputs {
    std::vector<std::any> kept;
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    std::vector<bool> requires_grad;
  };

  static TensorList forward(autograd::AutogradContext* ctx, const Body& body, const TensorList& inputs,
                            const CheckpointOptions& options) {
    ctx->saved_data["body"] = autograd::SavedValue::of(body);
    ctx->saved_data["options"] = autograd::SavedValue::of(options);
    if (options.preserve_rng_state) ctx->saved_data["rng_state"] = default_generator().get_state();
    if (options.pack_input) {
      PackedInputs packed;
      for (const Tensor& t : inputs) {
        packed.kept.push_back(options.pack_input(t));
        packed.shapes.push_back(t.shape());
        packed.dtypes.push_back(t.dtype());
        packed.requires_grad.push_back(t.requires_grad());
      }
      ctx->saved_data["packed"] = autograd::SavedValue::of(std::move(packed));
    } else {
      ctx->save_for_backward(inputs);
    }
    return body(inputs);
  }

  // The inputs as leaves of their own: the recomputed graph ends at them, not at the graph before the checkpoint.
  static TensorList recomputation_inputs(autograd::AutogradContext* ctx, const CheckpointOptions& options) {
    TensorList inputs;
    if (!options.pack_input) {
      for (const Tensor& t : ctx->get_saved_variables()) {
        Tensor leaf = t.detach();
        if (t.requires_grad()) leaf.requires_grad_(true);
        inputs.push_back(leaf);
      }
      return inputs;
    }
    const PackedInputs& packed = ctx->saved_data["packed"].get<PackedInputs>();
    for (size_t i = 0; i < packed.kept.size(); ++i) {
      Tensor leaf = options.unpack_input(packed.kept[i]).detach();
      GRAFT_CHECK(leaf.defined() && leaf.shape() == packed.shapes[i] && leaf.dtype() == packed.dtypes[i],
                  "checkpoint: unpack_input returned {} for input {}, which was {} {}",
                  leaf.defined() ? fmt::format("{} {}", dtype_name(leaf.dtype()), shape_str(leaf.shape())) : "an undefined tensor", i,
                  dtype_name(packed.dtypes[i]), shape_str(packed.shapes[i]));
      if (packed.requires_grad[i]) leaf.requires_grad_(true);
      inputs.push_back(leaf);
    }
    return inputs;
  }

  static TensorList backward(autograd::AutogradContext* ctx, TensorList grad_outputs) {
    const Body& body = ctx->saved_data["body"].get<Body>();
    const CheckpointOptions& options = ctx->saved_data["options"].get<CheckpointOptions>();
    const TensorList inputs = recomputation_inputs(ctx, options);
    TensorList outputs;
    {
      // Random ops draw what they drew in forward from a generator of this thread's own: the global generator
      // is neither moved nor read meanwhile, so other threads (ZeRO's in-process ranks) may keep drawing from it.
      std::optional<ScopedThreadGenerator> rng;
      if (options.preserve_rng_state) rng.emplace(ctx->saved_data["rng_state"].toStringRef());
      EnableGradGuard grad_on;
      outputs = body(inputs);
    }
    GRAFT_CHECK(outputs.size() == grad_outputs.size(),
                "checkpoint: the function returned {} outputs when run again in backward, {} in forward",
                outputs.size(), grad_outputs.size());
    TensorList roots, seeds;
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i].defined() && outputs[i].requires_grad() && grad_outputs[i].defined()) {
        roots.push_back(outputs[i]);
        seeds.push_back(grad_outputs[i]);
      }
    if (!roots.empty()) autograd::backward(roots, seeds);
    // One gradient per forward argument: the body, each input, the flag.
    TensorList grads{Tensor()};
    for (const Tensor& t : inputs) grads.push_back(t.requires_grad() ? t.grad() : Tensor());
    grads.push_back(Tensor());
    return grads;
  }
};

}  // namespace

TensorList checkpoint(const std::function<TensorList(const TensorList&)>& function, const TensorList& inputs,
                      const CheckpointOptions& options) {
  GRAFT_CHECK(static_cast<bool>(function), "checkpoint: the function is empty");
  GRAFT_CHECK(static_cast<bool>(options.pack_input) == static_cast<bool>(options.unpack_input),
              "checkpoint: pack_input and unpack_input must be set together (only {} is)",
              options.pack_input ? "pack_input" : "unpack_input");
  bool any_requires_grad = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    GRAFT_CHECK(inputs[i].defined(), "checkpoint: input {} is undefined", i);
    any_requires_grad = any_requires_grad || inputs[i].requires_grad();
  }
  if (GradMode::is_enabled() && !any_requires_grad)
    warn("checkpoint: none of the inputs have requires_grad=True. Gradients will be None");
  return Checkpoint::apply(Body(function), inputs, options);
}

}  // namespace graft::utils
