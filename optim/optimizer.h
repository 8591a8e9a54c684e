#pragma once
// The optimizer base, after torch::optim::Optimizer: parameter groups with their own options,
// add_param_group, zero_grad, step (under no-grad, skipping parameters without a gradient) and
// state_dict / load_state_dict.
//
// Each group's parameters, gradients and optimizer state live in flat buffers (optim/flat_parameters.h):
// building an optimizer moves the parameters' data into them (the Tensor handles stay valid and keep
// their values). Differences from PyTorch 1.13, all raising graft::Error:
// - a parameter listed twice in a group is an error (PyTorch warns); one that is not a leaf is an error
//   even when it retains its gradient; parameters must be float32 or float64 (PyTorch also steps bfloat16
//   and float16 parameters in their own dtype: graft raises instead);
// - every group's options are validated (PyTorch checks only the defaults).
// Because a bucket's parameters share one storage, they share one version counter: writing one
// parameter in place between a forward and its backward invalidates tensors saved from the others too.
#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graft/optim/checkpoint.h"
#include "graft/graph/tensor.h"
#include "graft/optim/flat_parameters.h"

namespace graft::optim {

// Declares a hyperparameter with a fluent setter and a getter, like TORCH_ARG:
// `AdamOptions(1e-3).betas({0.9, 0.98}).weight_decay(0.01)`, and `options.lr()` reads one.
#define GRAFT_ARG(T, name)                  \
 public:                                    \
  auto& name(const T& new_##name) {         \
    this->name##_ = new_##name;             \
    return *this;                           \
  }                                         \
  const T& name() const { return name##_; } \
                                            \
 private:                                   \
  T name##_

class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// The hyperparameters by PyTorch's names (bools as 0/1, Adam's betas as beta1 and beta2): what
  /// state_dict() saves for each group. from_map reads them back and fails on a missing name.
  virtual std::map<std::string, double> to_map() const = 0;
  virtual void from_map(const std::map<std::string, double>& values) = 0;

 protected:
  /// values[key], for from_map.
  /// @throws graft::Error naming `optimizer` and `key` when the saved hyperparameters lack it.
  static double value_from_map(const std::map<std::string, double>& values, const char* optimizer, const char* key);
};

/// clone() for an options struct.
template <class Derived>
class OptimizerCloneableOptions : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};

/// A list of parameters and, optionally, options of its own (otherwise the optimizer's defaults).
class OptimizerParamGroup {
 public:
  OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}  // NOLINT: implicit, as in torch
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  template <class Options>
    requires std::derived_from<Options, OptimizerOptions>
  OptimizerParamGroup(std::vector<Tensor> params, const Options& options)
      : params_(std::move(params)), options_(std::make_unique<Options>(options)) {}
  OptimizerParamGroup(const OptimizerParamGroup& other);
  OptimizerParamGroup& operator=(const OptimizerParamGroup& other);
  OptimizerParamGroup(OptimizerParamGroup&&) = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) = default;

  const std::vector<Tensor>& params() const { return params_; }
  bool has_options() const { return options_ != nullptr; }
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }
  /// PyTorch's group['initial_lr']: set by the first learning-rate scheduler attached to the optimizer.
  const std::optional<double>& initial_lr() const { return initial_lr_; }
  void set_initial_lr(std::optional<double> lr) { initial_lr_ = lr; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
  std::optional<double> initial_lr_;
};

using LossClosure = std::function<Tensor()>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// The optimizer's name as in PyTorch ("SGD", "Adam", "AdamW").
  virtual const char* name() const = 0;

  /// Runs `closure` (with grad mode on) when given, then updates every parameter that has a gradient,
  /// with grad mode off. Returns the closure's loss (undefined without a closure).
  /// @throws graft::Error when a gradient is inf or NaN and a float16 autocast scope ran since the last step
  ///         (float16 overflowed: optim::GradScaler skips such steps instead; PyTorch would step into NaN).
  Tensor step(const LossClosure& closure = nullptr);
  /// Zeroes every defined gradient in place (detaching it first), or drops it with set_to_none.
  void zero_grad(bool set_to_none = false);
  /// Adds a group; its missing options are the optimizer's defaults. Errors: a parameter already in a
  /// group, a parameter listed twice, a non-leaf, a non-floating parameter, invalid options.
  void add_param_group(const OptimizerParamGroup& group);

  std::vector<OptimizerParamGroup>& param_groups() { return groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const { return groups_; }
  const OptimizerOptions& defaults() const { return *defaults_; }
  /// Every parameter, group after group.
  std::vector<Tensor> parameters() const;
  size_t size() const;  // the number of parameters

  /// Updates only the elements inside `range` of bucket `bucket` of group `group` (a ZeRO rank updating its
  /// shard of the flat buffers): the members overlapping the range that have a gradient count one step.
  /// Gradients are synced into the bucket first, as by step().
  void step_range(size_t group, size_t bucket, FlatRange range);

  /// The flat buffers of group `group` (for ZeRO and for inspection).
  FlatParameters& flat_parameters(size_t group);
  const FlatParameters& flat_parameters(size_t group) const;

  /// PyTorch's layout: metadata {"optimizer": name, "param_groups": [{hyperparameters..., "initial_lr",
  /// "params": [indices]}], "state": {"<index>": {"step": n}}} and the tensors "state.<index>.<name>"
  /// (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer), parameters numbered across groups in order.
  /// The tensors are copies, shaped like their parameters.
  Checkpoint state_dict() const;
  /// Restores state and group options saved by state_dict() of an optimizer of the same kind over
  /// parameters of the same shapes; state tensors are converted to their parameter's dtype. Everything is
  /// checked before anything changes.
  /// @throws graft::Error naming the entry for: metadata that is not the layout above; another optimizer or
  /// other group sizes; invalid options; state for a parameter the optimizer does not have; a step that is not
  /// a non-negative integer; a state tensor this optimizer does not keep (with these options), one missing for
  /// a parameter that has taken steps, or one of another shape or a non-floating dtype.
  void load_state_dict(const Checkpoint& dict);

 protected:
  explicit Optimizer(std::unique_ptr<OptimizerOptions> defaults) : defaults_(std::move(defaults)) {}
  /// Derived constructors call this (virtual calls do not reach them from the base constructor).
  void add_param_groups(const std::vector<OptimizerParamGroup>& groups);
  /// Raises graft::Error naming the optimizer and the invalid value.
  virtual void check_options(const OptimizerOptions& options) const = 0;
  /// The state tensors kept per parameter under `options` (state_dict's "state.<index>.<name>").
  virtual std::vector<std::string> state_names(const OptimizerOptions& options) const = 0;
  /// Updates the elements inside `range` of the members of `bucket` flagged in `active` (those with a
  /// gradient, already in grads(), overlapping the range).
  virtual void update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
                      FlatRange range) = 0;

 private:
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<OptimizerParamGroup> groups_;
  std::vector<FlatParameters> flat_;
  uint64_t float16_scopes_seen_ = 0;  // graft::detail::float16_autocast_scopes() at the last check
  void check_float16_overflow();
};

}  // namespace graft::optim
