#include "graft/optim/optimizer.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include <fmt/format.h>

#include "graft/autograd/profiler.h"
#include "graft/graph/autocast_mode.h"
#include "graft/graph/grad_mode.h"
#include "graft/graph/node.h"
#include "graft/ops/shape.h"
#include "graft/optim/detail/finite.h"

namespace graft::optim {

double OptimizerOptions::value_from_map(const std::map<std::string, double>& values, const char* optimizer,
                                        const char* key) {
  auto it = values.find(key);
  GRAFT_CHECK(it != values.end(), "{}Options: the saved hyperparameters lack '{}'", optimizer, key);
  return it->second;
}

using nlohmann::json;

// ---------------------------------------------------------------- OptimizerParamGroup

OptimizerParamGroup::OptimizerParamGroup(const OptimizerParamGroup& other)
    : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr),
      initial_lr_(other.initial_lr_) {}

OptimizerParamGroup& OptimizerParamGroup::operator=(const OptimizerParamGroup& other) {
  if (this != &other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
    initial_lr_ = other.initial_lr_;
  }
  return *this;
}

OptimizerOptions& OptimizerParamGroup::options() {
  GRAFT_CHECK(options_, "OptimizerParamGroup: the group has no options (it has not been added to an optimizer)");
  return *options_;
}

const OptimizerOptions& OptimizerParamGroup::options() const {
  GRAFT_CHECK(options_, "OptimizerParamGroup: the group has no options (it has not been added to an optimizer)");
  return *options_;
}

// ---------------------------------------------------------------- Optimizer: groups

void Optimizer::add_param_groups(const std::vector<OptimizerParamGroup>& groups) {
  GRAFT_CHECK(!groups.empty(), "{}: optimizer got an empty parameter list", name());
  for (const OptimizerParamGroup& g : groups) add_param_group(g);
}

void Optimizer::add_param_group(const OptimizerParamGroup& group) {
  const std::vector<Tensor>& params = group.params();
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    GRAFT_CHECK(p.defined(), "{}: parameter {} of the group is undefined", name(), i);
    GRAFT_CHECK(p.is_leaf(), "{}: can't optimize a non-leaf Tensor (parameter {} of shape {} has grad_fn {})", name(), i,
                shape_str(p.shape()), p.grad_fn()->name());
    GRAFT_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64,
                "{}: parameter {} of shape {} is {}; only float32 and float64 can be optimized{}", name(), i,
                shape_str(p.shape()), dtype_name(p.dtype()),
                is_reduced_floating(p.dtype())
                    ? " (graft does not step 16-bit parameters: keep float32 master weights and cast a copy)"
                    : "");
    GRAFT_CHECK(seen.insert(p.impl()).second,
                "{}: the parameter group lists parameter {} (shape {}) twice; graft keeps each parameter once in a flat "
                "buffer, so duplicates are an error",
                name(), i, shape_str(p.shape()));
    for (const OptimizerParamGroup& other : groups_)
      for (const Tensor& q : other.params())
        GRAFT_CHECK(!q.is_same(p), "{}: some parameters appear in more than one parameter group (parameter {} of shape {})",
                    name(), i, shape_str(p.shape()));
  }
  OptimizerParamGroup added(params, group.has_options() ? group.options().clone() : defaults_->clone());
  added.set_initial_lr(group.initial_lr());
  check_options(added.options());
  flat_.emplace_back(params);
  groups_.push_back(std::move(added));
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> all;
  for (const OptimizerParamGroup& g : groups_) all.insert(all.end(), g.params().begin(), g.params().end());
  return all;
}

size_t Optimizer::size() const {
  size_t n = 0;
  for (const OptimizerParamGroup& g : groups_) n += g.params().size();
  return n;
}

FlatParameters& Optimizer::flat_parameters(size_t group) {
  GRAFT_CHECK(group < flat_.size(), "{}: there is no parameter group {} (the optimizer has {})", name(), group,
              flat_.size());
  return flat_[group];
}

const FlatParameters& Optimizer::flat_parameters(size_t group) const {
  return const_cast<Optimizer*>(this)->flat_parameters(group);
}

// ---------------------------------------------------------------- Optimizer: step, zero_grad

Tensor Optimizer::step(const LossClosure& closure) {
  // PyTorch's name for the event: "Optimizer.step#Adam.step".
  profiler::RecordFunction record(profiler::EventKind::Optimizer,
                                  profiler::is_profiler_enabled() ? fmt::format("Optimizer.step#{}.step", name()) : "");
  Tensor loss;
  if (closure) {
    EnableGradGuard grad_on;
    loss = closure();
  }
  GRAFT_CHECK(groups_.size() == flat_.size(),
              "{}: param_groups() has {} groups but the optimizer set up {}; add groups with add_param_group", name(),
              groups_.size(), flat_.size());
  NoGradGuard no_grad;
  check_float16_overflow();
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (FlatBucket& bucket : flat_[g].buckets()) {
      std::vector<uint8_t> active = bucket.sync();
      update(groups_[g].options(), bucket, active, FlatRange{});
      bucket.params().storage()->bump_version();
    }
  }
  return loss;
}

// float16's largest value is 65504: a float16 backward without loss scaling overflows easily, and the step
// would silently turn the weights into NaN. Checked once per step after a float16 autocast scope only, so
// float32 and bfloat16 training pay nothing.
void Optimizer::check_float16_overflow() {
  const uint64_t scopes = graft::detail::float16_autocast_scopes();
  if (scopes == float16_scopes_seen_) return;
  float16_scopes_seen_ = scopes;
  for (const OptimizerParamGroup& group : groups_)
    for (const Tensor& p : group.params())
      GRAFT_CHECK(detail::all_finite(p.grad()),
                  "{}.step: a gradient (parameter of shape {}) is inf or NaN after float16 autocast: float16 "
                  "overflowed. Scale the loss with optim::GradScaler (scaler.scale(loss).backward(); "
                  "scaler.step(optimizer); scaler.update()), which skips such steps, or autocast to bfloat16",
                  name(), shape_str(p.shape()));
}

void Optimizer::step_range(size_t group, size_t bucket_index, FlatRange range) {
  FlatParameters& flat = flat_parameters(group);
  GRAFT_CHECK(bucket_index < flat.buckets().size(), "{}.step_range: group {} has {} buckets, not {}", name(), group,
              flat.buckets().size(), bucket_index + 1);
  FlatBucket& bucket = flat.buckets()[bucket_index];
  GRAFT_CHECK(range.begin >= 0 && range.begin <= range.end, "{}.step_range: bad range [{}, {})", name(), range.begin,
              range.end);
  NoGradGuard no_grad;
  std::vector<uint8_t> active = bucket.sync();
  for (size_t m = 0; m < bucket.size(); ++m) {
    const FlatSlot& s = bucket.slots()[m];
    if (s.offset + s.numel <= range.begin || s.offset >= range.end) active[m] = 0;
  }
  update(groups_[group].options(), bucket, active, range);
  bucket.params().storage()->bump_version();
}

void Optimizer::zero_grad(bool set_to_none) {
  profiler::RecordFunction record(
      profiler::EventKind::Optimizer,
      profiler::is_profiler_enabled() ? fmt::format("Optimizer.zero_grad#{}.zero_grad", name()) : "");
  for (FlatParameters& flat : flat_)
    for (FlatBucket& bucket : flat.buckets()) bucket.zero_grad(set_to_none);
}

// ---------------------------------------------------------------- Optimizer: state_dict

Checkpoint Optimizer::state_dict() const {
  Checkpoint dict;
  json meta;
  meta["optimizer"] = name();
  meta["param_groups"] = json::array();
  meta["state"] = json::object();
  size_t base = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const OptimizerParamGroup& group = groups_[g];
    json packed(group.options().to_map());
    if (group.initial_lr()) packed["initial_lr"] = *group.initial_lr();
    std::vector<size_t> indices(group.params().size());
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = base + i;
    packed["params"] = indices;
    meta["param_groups"].push_back(packed);
    const FlatParameters& flat = flat_[g];
    for (size_t i = 0; i < group.params().size(); ++i) {
      auto [b, m] = flat.locate(i);
      const FlatBucket& bucket = flat.buckets()[b];
      const int64_t steps = bucket.steps()[m];
      if (steps == 0) continue;
      const std::string key = std::to_string(base + i);
      meta["state"][key] = {{"step", steps}};
      for (const auto& [state_name, buffer] : bucket.states())
        dict.tensors.emplace_back("state." + key + "." + state_name, graft::clone(bucket.slot_view(buffer, m)));
    }
    base += group.params().size();
  }
  dict.metadata = meta.dump();
  return dict;
}

void Optimizer::load_state_dict(const Checkpoint& dict) {
  json meta;
  try {
    meta = json::parse(dict.metadata);
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}.load_state_dict: the metadata is not valid JSON ({})", name(), e.what());
  }
  try {
    const std::string saved_name = meta.at("optimizer").get<std::string>();
    GRAFT_CHECK(saved_name == name(), "{}.load_state_dict: the state dict was saved by {}", name(), saved_name);
    const json& saved_groups = meta.at("param_groups");
    GRAFT_CHECK(saved_groups.size() == groups_.size(),
                "{}.load_state_dict: loaded state dict has a different number of parameter groups ({} saved, {} here)",
                name(), saved_groups.size(), groups_.size());
    for (size_t g = 0; g < groups_.size(); ++g)
      GRAFT_CHECK(saved_groups[g].at("params").size() == groups_[g].params().size(),
                  "{}.load_state_dict: loaded state dict contains a parameter group that doesn't match the size of "
                  "optimizer's group (group {}: {} saved, {} here)",
                  name(), g, saved_groups[g].at("params").size(), groups_[g].params().size());
    const json& state = meta.at("state");
    GRAFT_CHECK(state.is_object(), "{}.load_state_dict: 'state' is not a JSON object", name());
    // Check everything before changing anything.
    std::vector<std::unique_ptr<OptimizerOptions>> options;
    for (size_t g = 0; g < groups_.size(); ++g) {
      std::map<std::string, double> values;
      for (auto it = saved_groups[g].begin(); it != saved_groups[g].end(); ++it)
        if (it.value().is_number()) values[it.key()] = it.value().get<double>();
      options.push_back(groups_[g].options().clone());
      options.back()->from_map(values);
      check_options(*options.back());
      GRAFT_CHECK(!saved_groups[g].contains("initial_lr") || saved_groups[g]["initial_lr"].is_number(),
                  "{}.load_state_dict: group {} has an initial_lr that is not a number", name(), g);
    }
    // The parameter behind each saved index, and its group.
    std::vector<size_t> group_of;
    std::vector<Tensor> param_of;
    for (size_t g = 0; g < groups_.size(); ++g)
      for (const Tensor& p : groups_[g].params()) {
        group_of.push_back(g);
        param_of.push_back(p);
      }
    std::map<size_t, std::set<std::string>> expected;  // index -> the state tensors its steps require
    for (auto it = state.begin(); it != state.end(); ++it) {
      size_t index = 0;
      const std::string& key = it.key();
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
      GRAFT_CHECK(ec == std::errc() && end == key.data() + key.size() && index < group_of.size() &&
                      std::to_string(index) == key,
                  "{}.load_state_dict: state['{}'] belongs to no parameter (the optimizer has {})", name(), key,
                  group_of.size());
      const json& entry = it.value();
      GRAFT_CHECK(entry.is_object() && entry.contains("step") && entry["step"].is_number_integer() &&
                      (entry["step"].is_number_unsigned() || entry["step"].get<int64_t>() >= 0),
                  "{}.load_state_dict: state['{}'] needs a 'step' that is a non-negative integer, got {}", name(), key,
                  entry.is_object() && entry.contains("step") ? entry["step"].dump() : std::string("none"));
      if (entry["step"].get<int64_t>() > 0) {
        const std::vector<std::string> names = state_names(*options[group_of[index]]);
        expected[index] = std::set<std::string>(names.begin(), names.end());
      }
    }
    std::map<std::string, Tensor> by_name;
    for (const auto& [key, t] : dict.tensors)
      GRAFT_CHECK(by_name.emplace(key, t).second, "{}.load_state_dict: tensor '{}' appears twice", name(), key);
    for (const auto& [key, t] : by_name) {
      // "state.<index>.<name>"
      const size_t dot = key.find('.', 6);
      size_t index = 0;
      const bool parsed = key.rfind("state.", 0) == 0 && dot != std::string::npos &&
                          std::from_chars(key.data() + 6, key.data() + dot, index).ptr == key.data() + dot &&
                          std::to_string(index) == key.substr(6, dot - 6) && index < group_of.size();
      GRAFT_CHECK(parsed, "{}.load_state_dict: tensor '{}' belongs to no parameter", name(), key);
      const std::string state_name = key.substr(dot + 1);
      GRAFT_CHECK(state.contains(std::to_string(index)), "{}.load_state_dict: '{}' is present but state[{}] is not",
                  name(), key, index);
      const std::vector<std::string> names = state_names(*options[group_of[index]]);
      GRAFT_CHECK(std::find(names.begin(), names.end(), state_name) != names.end(),
                  "{}.load_state_dict: tensor '{}': '{}' is not a state {} keeps with these options ({})", name(), key,
                  state_name, name(), names.empty() ? std::string("it keeps none") : fmt::format("{}", fmt::join(names, ", ")));
      const Tensor& p = param_of[index];
      GRAFT_CHECK(t.shape() == p.shape(), "{}.load_state_dict: '{}' has shape {} but parameter {} has shape {}", name(),
                  key, shape_str(t.shape()), index, shape_str(p.shape()));
      GRAFT_CHECK(t.is_floating_point(), "{}.load_state_dict: '{}' is {}, not a floating-point tensor", name(), key,
                  dtype_name(t.dtype()));
      if (expected.count(index)) expected[index].erase(state_name);
    }
    for (const auto& [index, missing] : expected)
      GRAFT_CHECK(missing.empty(), "{}.load_state_dict: parameter {} has taken steps but its state '{}' is missing", name(),
                  index, *missing.begin());

    NoGradGuard no_grad;
    size_t base = 0;
    for (size_t g = 0; g < groups_.size(); ++g) {
      groups_[g].set_options(std::move(options[g]));
      const json& saved = saved_groups[g];
      groups_[g].set_initial_lr(saved.contains("initial_lr") ? std::optional<double>(saved["initial_lr"].get<double>())
                                                             : std::nullopt);
      FlatParameters& flat = flat_[g];
      for (FlatBucket& bucket : flat.buckets()) {
        std::fill(bucket.steps().begin(), bucket.steps().end(), 0);
        for (const auto& [state_name, buffer] : bucket.states()) Tensor(buffer).zero_();
      }
      for (size_t i = 0; i < groups_[g].params().size(); ++i) {
        const std::string key = std::to_string(base + i);
        if (!state.contains(key)) continue;
        auto [b, m] = flat.locate(i);
        FlatBucket& bucket = flat.buckets()[b];
        bucket.steps()[m] = state[key].at("step").get<int64_t>();
        const std::string head = "state." + key + ".";
        for (auto it = by_name.lower_bound(head); it != by_name.end() && it->first.rfind(head, 0) == 0; ++it)
          bucket.slot_view(bucket.state(it->first.substr(head.size())), m).copy_(it->second);
      }
      base += groups_[g].params().size();
    }
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}.load_state_dict: the metadata is malformed ({})", name(), e.what());
  }
}

}  // namespace graft::optim
