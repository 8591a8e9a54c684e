#include "graft/optim/sgd.h"


namespace graft::optim {

std::map<std::string, double> SGDOptions::to_map() const {
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"dampening", dampening_},
          {"weight_decay", weight_decay_},
          {"nesterov", nesterov_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

void SGDOptions::from_map(const std::map<std::string, double>& v) {
  lr_ = value_from_map(v, "SGD", "lr");
  momentum_ = value_from_map(v, "SGD", "momentum");
  dampening_ = value_from_map(v, "SGD", "dampening");
  weight_decay_ = value_from_map(v, "SGD", "weight_decay");
  nesterov_ = value_from_map(v, "SGD", "nesterov") != 0;
  maximize_ = value_from_map(v, "SGD", "maximize") != 0;
}

SGD::SGD(const std::vector<OptimizerParamGroup>& groups, const SGDOptions& defaults)
    : Optimizer(std::make_unique<SGDOptions>(defaults)) {
  check_options(defaults);
  add_param_groups(groups);
}

void SGD::check_options(const OptimizerOptions& options) const {
  const auto& o = static_cast<const SGDOptions&>(options);
  GRAFT_CHECK(o.lr() >= 0, "SGD: Invalid learning rate: {}", o.lr());
  GRAFT_CHECK(o.momentum() >= 0, "SGD: Invalid momentum value: {}", o.momentum());
  GRAFT_CHECK(o.weight_decay() >= 0, "SGD: Invalid weight_decay value: {}", o.weight_decay());
  GRAFT_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
              "SGD: Nesterov momentum requires a momentum and zero dampening (momentum {}, dampening {})", o.momentum(),
              o.dampening());
}

std::vector<std::string> SGD::state_names(const OptimizerOptions& options) const {
  if (static_cast<const SGDOptions&>(options).momentum() == 0) return {};
  return {"momentum_buffer"};
}

namespace {

struct SGDStep {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

// PyTorch's _single_tensor_sgd for elements [b, e) of one parameter, in the parameter's dtype:
//   d = maximize ? -g : g;  d += weight_decay * p;
//   buf = first ? d : momentum * buf + (1 - dampening) * d;  d = nesterov ? d + momentum * buf : buf;
//   p -= lr * d
template <class T>
void sgd_range(T* p, const T* g, T* buf, int64_t b, int64_t e, const SGDStep& s, bool first) {
  const T wd = static_cast<T>(s.weight_decay), mom = static_cast<T>(s.momentum);
  const T keep = static_cast<T>(1 - s.dampening), neg_lr = static_cast<T>(-s.lr);
  const bool decay = s.weight_decay != 0, use_momentum = s.momentum != 0;
  for (int64_t i = b; i < e; ++i) {
    T d = s.maximize ? -g[i] : g[i];
    if (decay) d = d + wd * p[i];
    if (use_momentum) {
      T v = first ? d : buf[i] * mom + keep * d;
      buf[i] = v;
      d = s.nesterov ? d + mom * v : v;
    }
    p[i] = p[i] + neg_lr * d;
  }
}

}  // namespace

void SGD::update(const OptimizerOptions& options, FlatBucket& bucket, const std::vector<uint8_t>& active,
                 FlatRange range) {
  const auto& o = static_cast<const SGDOptions&>(options);
  const SGDStep s{o.lr(), o.momentum(), o.dampening(), o.weight_decay(), o.nesterov(), o.maximize()};
  // steps() counts the updates that used the momentum buffer: 0 means it does not exist yet.
  std::vector<uint8_t> first(bucket.size(), 0);
  Tensor buffer;
  if (s.momentum != 0) {
    buffer = bucket.state("momentum_buffer");
    for (size_t m = 0; m < bucket.size(); ++m)
      if (active[m]) first[m] = bucket.steps()[m]++ == 0;
  }
  dispatch_floating(bucket.dtype(), "SGD", [&]<class T>() {
    T* p = static_cast<T*>(bucket.params().data_ptr());
    const T* g = static_cast<const T*>(bucket.grads().data_ptr());
    T* buf = buffer.defined() ? static_cast<T*>(buffer.data_ptr()) : nullptr;
    for_each_active_range(
        bucket, active, [&](size_t m, int64_t b, int64_t e) { sgd_range<T>(p, g, buf, b, e, s, first[m]); }, range);
  });
}

}  // namespace graft::optim
