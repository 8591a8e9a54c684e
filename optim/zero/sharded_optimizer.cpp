#include "graft/optim/zero/sharded_optimizer.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "graft/graph/autocast_mode.h"
#include "graft/graph/grad_mode.h"
#include "graft/graph/factory.h"
#include "graft/nn/utils/grad_norm.h"
#include "graft/ops/shape.h"
#include "graft/optim/detail/finite.h"
#include "graft/optim/zero/detail/stage3_partition.h"
#include "graft/optim/zero/detail/zero_state.h"

namespace graft::optim::zero {

using detail::ZeroBucket;
using detail::ZeroParam;
using detail::span;

namespace {

// Member m's slot of a padded flat buffer, shaped like `like`.
Tensor slot_view(const Tensor& buffer, const ZeroBucketLayout& layout, size_t m, const Tensor& like) {
  return make_view(buffer, like.shape(), contiguous_strides(like.shape()),
                   buffer.storage_offset() + layout.slots[m].offset);
}

std::vector<OptimizerParamGroup> trainable_parameters(nn::Module& model) {
  std::vector<Tensor> params;
  for (const Tensor& p : model.parameters())
    if (p.requires_grad()) params.push_back(p);
  return {OptimizerParamGroup(params)};
}

}  // namespace

// ---------------------------------------------------------------- construction

ShardedOptimizer::ShardedOptimizer(nn::Module& model, const std::vector<OptimizerParamGroup>& groups,
                                   OptimizerFactory factory, Communicator& comm, int stage)
    : model_(model), comm_(comm), stage_(stage) {
  GRAFT_CHECK(stage >= 0 && stage <= 3, "ShardedOptimizer: stage must be 0, 1, 2 or 3, got {}", stage);
  GRAFT_CHECK(factory != nullptr, "ShardedOptimizer: the optimizer factory is empty");
  GRAFT_CHECK(!groups.empty(), "ShardedOptimizer: got an empty list of parameter groups");
  setup(groups, std::move(factory));
}

ShardedOptimizer::ShardedOptimizer(nn::Module& model, OptimizerFactory factory, Communicator& comm, int stage)
    : ShardedOptimizer(model, trainable_parameters(model), std::move(factory), comm, stage) {}

ShardedOptimizer::~ShardedOptimizer() {
  partition_.reset();
  for (ZeroParam& p : params_) {
    if (p.hook != 0) p.tensor.remove_hook(p.hook);
    if (p.accumulated_hook != 0) p.tensor.remove_hook(p.accumulated_hook);
  }
}

void ShardedOptimizer::setup(const std::vector<OptimizerParamGroup>& groups, OptimizerFactory factory) {
  std::map<const TensorImpl*, std::string> names;
  for (const auto& [name, t] : model_.named_parameters()) names.emplace(t.impl(), name);
  std::set<const TensorImpl*> seen;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<Tensor>& ps = groups[g].params();
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      GRAFT_CHECK(p.defined(), "ShardedOptimizer: parameter {} of group {} is undefined", i, g);
      GRAFT_CHECK(p.is_leaf(), "ShardedOptimizer: can't optimize a non-leaf Tensor (parameter {} of group {}, shape {})", i,
                  g, shape_str(p.shape()));
      GRAFT_CHECK(p.is_floating_point(), "ShardedOptimizer: parameter {} of group {} is {}; only floating-point "
                  "parameters can be optimized", i, g, dtype_name(p.dtype()));
      auto name = names.find(p.impl());
      GRAFT_CHECK(name != names.end(), "ShardedOptimizer: parameter {} of group {} (shape {}) is not a parameter of the "
                  "model", i, g, shape_str(p.shape()));
      GRAFT_CHECK(seen.insert(p.impl()).second, "ShardedOptimizer: parameter '{}' appears more than once in the groups",
                  name->second);
      ZeroParam zp;
      zp.tensor = p;
      zp.name = name->second;
      zp.group = g;
      params_.push_back(std::move(zp));
    }
  }

  // The rank's optimizer keeps one bucket per dtype of a group, float32 for the master weights of 16-bit
  // parameters: a group can't hold float32 parameters beside 16-bit ones, or both 16-bit dtypes.
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<DType> float32_state;  // the group's dtypes whose optimizer state is float32
    std::string names;
    for (const Tensor& p : groups[g].params()) {
      const DType d = p.dtype();
      if (d == kFloat64 || std::find(float32_state.begin(), float32_state.end(), d) != float32_state.end()) continue;
      float32_state.push_back(d);
      names += (names.empty() ? "" : " and ") + std::string(dtype_name(d));
    }
    GRAFT_CHECK(float32_state.size() <= 1,
                "ShardedOptimizer: group {} mixes {} parameters; the master weights of 16-bit parameters are float32, "
                "so each of float32, bfloat16 and float16 needs a group of its own", g, names);
  }

  NoGradGuard no_grad;
  const int W = comm_.world_size(), rank = comm_.rank();
  size_t first = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    layouts_.push_back(make_zero_layout(groups[g].params(), W));
    const ZeroGroupLayout& layout = layouts_.back();
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      params_[first + i].bucket = buckets_.size() + layout.where[i].first;
      params_[first + i].member = layout.where[i].second;
    }
    for (const ZeroBucketLayout& bl : layout.buckets) {
      ZeroBucket b;
      b.group = g;
      b.layout = bl;
      for (size_t m : bl.members) b.params.push_back(first + m);
      b.range = stage_ == 0 ? FlatRange{0, bl.padded()} : bl.range(rank);
      buckets_.push_back(std::move(b));
    }
    first += groups[g].params().size();
  }

  for (ZeroBucket& b : buckets_) {
    const ZeroBucketLayout& l = b.layout;
    const int64_t length = b.range.end - b.range.begin;
    // Every rank starts from rank 0's values.
    Tensor full = zeros({l.padded()}, l.dtype);
    for (size_t m = 0; m < b.params.size(); ++m) {
      const Tensor& p = params_[b.params[m]].tensor;
      slot_view(full, l, m, p).copy_(p.detach());
    }
    if (l.padded() > 0) comm_.broadcast(full, 0);
    if (stage_ < 3) {
      b.flat = full;
      for (size_t m = 0; m < b.params.size(); ++m) {
        Tensor& p = params_[b.params[m]].tensor;
        p.impl()->set_data(*slot_view(b.flat, l, m, p).impl());
      }
      b.slice = span(b.flat, b.range.begin, length);
    } else {
      b.slice = graft::clone(span(full, b.range.begin, length));
      // Each parameter gets a storage of its own (Stage3Partition releases it).
      for (size_t m = 0; m < b.params.size(); ++m) {
        Tensor& p = params_[b.params[m]].tensor;
        Tensor own = graft::clone(slot_view(full, l, m, p));
        p.impl()->set_data(*own.impl());
      }
    }
    if (b.mixed()) b.master = b.slice.to(kFloat32);
    if (stage_ <= 1) {
      b.local = zeros({l.padded()}, l.dtype);
      b.reduced = span(b.local, b.range.begin, length);
    } else {
      b.reduced = zeros({length}, l.dtype);
    }
  }

  build_inner(groups, std::move(factory));

  build_reduce_buckets();
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].tensor.requires_grad()) {
      params_[i].hook = params_[i].tensor.register_hook([this, i](const Tensor&) { gradient_arrived(i); });
      params_[i].accumulated_hook =
          params_[i].tensor.register_post_accumulate_grad_hook([this, i](const Tensor&) { gradient_accumulated(i); });
    }
  if (stage_ == 3) {
    partition_ = std::make_unique<detail::Stage3Partition>(detail::Stage3State{model_, comm_, params_, buckets_});
    partition_->set_prefetch_bucket_size(prefetch_bucket_size_);
  }
}

void ShardedOptimizer::build_inner(const std::vector<OptimizerParamGroup>& groups, OptimizerFactory factory) {
  std::vector<OptimizerParamGroup> inner_groups;
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<Tensor> pieces;
    for (ZeroBucket& b : buckets_) {
      if (b.group != g) continue;
      for (size_t m = 0; m < b.params.size(); ++m) {
        const FlatRange o = b.layout.overlap(m, b.range);
        const int64_t at = b.layout.slots[m].offset;
        // An empty parameter still counts its steps: it is a piece of the rank whose range holds its offset.
        const bool owns_empty = b.layout.slots[m].numel == 0 && at >= b.range.begin &&
                                (at < b.range.end || (at == b.range.end && at == b.layout.padded()));
        if (o.end <= o.begin && !owns_empty) continue;
        pieces.push_back(zeros({std::max<int64_t>(0, o.end - o.begin)}, b.optimizer_dtype()));
        b.piece_members.push_back(m);
      }
    }
    OptimizerParamGroup group = groups[g].has_options() ? OptimizerParamGroup(pieces, groups[g].options().clone())
                                                        : OptimizerParamGroup(pieces);
    group.set_initial_lr(groups[g].initial_lr());
    inner_groups.push_back(std::move(group));
  }
  inner_ = factory(inner_groups);
  GRAFT_CHECK(inner_ != nullptr, "ShardedOptimizer: the optimizer factory returned nothing");
  GRAFT_CHECK(inner_->param_groups().size() == groups.size(),
              "ShardedOptimizer: the factory's optimizer has {} parameter groups, expected {}",
              inner_->param_groups().size(), groups.size());
  // Lend each bucket's slice and reduced gradient to the optimizer's bucket over the same pieces. Its layout
  // is the slice's: the pieces start at slot boundaries (multiples of the alignment) or at the slice's start.
  std::vector<size_t> next(groups.size(), 0);
  for (ZeroBucket& b : buckets_) {
    if (b.piece_members.empty()) continue;
    FlatParameters& flat = inner_->flat_parameters(b.group);
    const size_t k = next[b.group]++;
    GRAFT_CHECK(k < flat.buckets().size(), "ShardedOptimizer: internal error: the optimizer has fewer buckets than ZeRO");
    FlatBucket& ib = flat.buckets()[k];
    GRAFT_CHECK(ib.dtype() == b.optimizer_dtype() && ib.size() == b.piece_members.size(),
                "ShardedOptimizer: internal error: the optimizer's bucket {} does not match ZeRO's", k);
    for (size_t j = 0; j < ib.size(); ++j)
      GRAFT_CHECK(ib.slots()[j].offset ==
                      std::max(b.layout.slots[b.piece_members[j]].offset, b.range.begin) - b.range.begin,
                  "ShardedOptimizer: internal error: the optimizer lays out piece {} differently", j);
    // 16-bit buckets: the optimizer updates the float32 master copy, and gets its float32 gradients only for
    // the duration of a step (prepare_master_grads).
    if (b.mixed()) ib.adopt_buffers(b.master, Tensor());
    else ib.adopt_buffers(b.slice, b.reduced);
    b.inner = &ib;
  }
}

// ---------------------------------------------------------------- backward

void ShardedOptimizer::point_grads_at(size_t bucket, const Tensor& buffer) {
  ZeroBucket& b = buckets_[bucket];
  for (size_t m = 0; m < b.params.size(); ++m) {
    Tensor& p = params_[b.params[m]].tensor;
    if (!p.requires_grad()) continue;
    p.mutable_grad() = buffer.defined() ? slot_view(buffer, b.layout, m, p) : Tensor();
  }
}

void ShardedOptimizer::gradient_arrived(size_t i) {
  GRAFT_CHECK(in_backward_,
              "ShardedOptimizer: a gradient reached parameter '{}' outside ShardedOptimizer::backward; with ZeRO, call "
              "backward(loss) on the sharded optimizer instead of loss.backward()",
              params_[i].name);
  params_[i].has_grad = true;
  if (partition_) partition_->gradient_arrived(i);
}

// ---------------------------------------------------------------- reduce buckets

void ShardedOptimizer::set_overlap_comm(bool overlap) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.set_overlap_comm: called while a backward is running");
  overlap_comm_ = overlap;
}

void ShardedOptimizer::set_reduce_bucket_size(int64_t elements) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.set_reduce_bucket_size: called while a backward is running");
  GRAFT_CHECK(elements >= 1, "ShardedOptimizer.set_reduce_bucket_size: reduce_bucket_size must be at least 1 element, "
              "got {}", elements);
  reduce_bucket_size_ = elements;
  build_reduce_buckets();
}

size_t ShardedOptimizer::num_reduce_buckets() const { return reduce_buckets_.size(); }

void ShardedOptimizer::set_prefetch_bucket_size(int64_t elements) {
  GRAFT_CHECK(elements >= 0, "ShardedOptimizer.set_prefetch_bucket_size: prefetch_bucket_size must be at least 0 "
              "elements (0: no prefetch), got {}", elements);
  prefetch_bucket_size_ = elements;
  if (partition_) partition_->set_prefetch_bucket_size(elements);
}

void ShardedOptimizer::build_reduce_buckets() {
  reduce_buckets_.clear();
  // Later buckets first and, inside each, the last members first: the order in which backward tends to
  // finish gradients (and the same on every rank, which starts the collectives in this order).
  for (size_t k = buckets_.size(); k-- > 0;) {
    const ZeroBucket& b = buckets_[k];
    const ZeroBucketLayout& l = b.layout;
    if (l.padded() == 0) continue;
    size_t end = b.params.size();
    int64_t elements = 0;
    for (size_t m = b.params.size(); m-- > 0;) {
      elements += l.slots[m].numel;
      if (elements < reduce_bucket_size_ && m > 0) continue;
      detail::ReduceBucket rb;
      rb.bucket = k;
      rb.first_member = m;
      rb.end_member = end;
      rb.begin = m == 0 ? 0 : l.slots[m].offset;
      rb.end = end == b.params.size() ? l.padded() : l.slots[end].offset;
      for (size_t j = m; j < end; ++j) {
        ZeroParam& p = params_[b.params[j]];
        p.reduce_bucket = reduce_buckets_.size();
        if (p.tensor.requires_grad()) ++rb.trainable;
      }
      reduce_buckets_.push_back(std::move(rb));
      end = m;
      elements = 0;
    }
  }
}

void ShardedOptimizer::gradient_accumulated(size_t i) {
  ZeroParam& p = params_[i];
  if (!in_backward_ || p.accumulated) return;
  p.accumulated = true;
  --reduce_buckets_[p.reduce_bucket].waiting;
  if (!overlap_comm_) return;
  start_ready_reductions();
  for (size_t k = 0; k < next_reduction_; ++k) reduce_buckets_[k].work->is_completed();  // moves the transfers on
}

void ShardedOptimizer::start_ready_reductions() {
  while (next_reduction_ < reduce_buckets_.size() && reduce_buckets_[next_reduction_].waiting == 0)
    start_reduction(reduce_buckets_[next_reduction_++]);
}

// The micro-batch's gradients of the bucket's elements [begin, end) are summed across ranks onto the step's
// running sum: all of them at stage 0 (an all-reduce), the part inside this rank's slice at stages 1-3 (a
// reduce-scatter whose chunk s is the part inside rank s's slice).
void ShardedOptimizer::start_reduction(detail::ReduceBucket& rb) {
  NoGradGuard no_grad;
  ZeroBucket& b = buckets_[rb.bucket];
  const bool later = micro_ > 0;
  const Tensor& local = stage_ <= 1 && later ? b.extra : b.local;
  // A hook or a recorded backward may have replaced a .grad: bring it back into its slot.
  for (size_t m = rb.first_member; m < rb.end_member; ++m) {
    Tensor& p = params_[b.params[m]].tensor;
    if (!p.requires_grad()) continue;
    const Tensor& g = p.grad();
    Tensor slot = slot_view(local, b.layout, m, p);
    if (g.defined() && !(g.storage() == slot.storage() && g.storage_offset() == slot.storage_offset() &&
                         g.is_contiguous())) {
      slot.copy_(g);
      p.mutable_grad() = slot;
    }
  }
  const int64_t length = rb.end - rb.begin;
  const Tensor input = span(local, rb.begin, length);
  if (stage_ == 0) {
    rb.work = comm_.all_reduce_async(input, span(b.local, rb.begin, length), /*accumulate=*/later);
    return;
  }
  const int W = comm_.world_size(), r = comm_.rank();
  const int64_t slice = b.layout.slice;
  std::vector<int64_t> counts(static_cast<size_t>(W));
  for (int s = 0; s < W; ++s)
    counts[static_cast<size_t>(s)] = std::max<int64_t>(0, std::min(rb.end, slice * (s + 1)) - std::max(rb.begin, slice * s));
  const int64_t at = std::clamp<int64_t>(rb.begin - slice * r, 0, slice);
  rb.work = comm_.reduce_scatter_async(input, span(b.reduced, at, counts[static_cast<size_t>(r)]), counts,
                                       /*accumulate=*/later);
}

void ShardedOptimizer::finish_reductions() {
  profiler::RecordFunction record(profiler::EventKind::UserScope, "ShardedOptimizer.reduce_gradients");
  if (overlap_comm_) {
    for (detail::ReduceBucket& rb : reduce_buckets_) rb.waiting = 0;  // a gradient that did not come stays zero
    start_ready_reductions();
    for (detail::ReduceBucket& rb : reduce_buckets_) rb.work->wait();
  } else {
    for (detail::ReduceBucket& rb : reduce_buckets_) {
      start_reduction(rb);
      rb.work->wait();
    }
  }
  for (detail::ReduceBucket& rb : reduce_buckets_) rb.work.reset();
  NoGradGuard no_grad;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    ZeroBucket& b = buckets_[i];
    if (stage_ <= 1 && micro_ > 0) {
      b.extra = Tensor();
      point_grads_at(i, b.local);
    } else if (stage_ >= 2) {
      b.local = Tensor();
      point_grads_at(i, Tensor());  // the full gradients are freed once reduced
    }
  }
}

void ShardedOptimizer::backward(const Tensor& loss) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.backward: called while a backward is running");
  GRAFT_CHECK(loss.defined(), "ShardedOptimizer.backward: the loss is undefined");
  release_master_grads();  // the reduced gradients are about to change
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      ZeroBucket& b = buckets_[i];
      const int64_t n = b.layout.padded();
      if (stage_ <= 1 && micro_ == 0) {
        b.local.zero_();
        point_grads_at(i, b.local);
      } else if (stage_ <= 1) {
        b.extra = zeros({n}, b.layout.dtype);
        point_grads_at(i, b.extra);
      } else {
        b.local = zeros({n}, b.layout.dtype);
        point_grads_at(i, b.local);
      }
    }
  }
  for (ZeroParam& p : params_) p.accumulated = false;
  for (detail::ReduceBucket& rb : reduce_buckets_) rb.waiting = rb.trainable;
  next_reduction_ = 0;
  if (partition_) partition_->begin_backward();
  in_backward_ = true;
  try {
    loss.backward();
  } catch (...) {
    in_backward_ = false;
    if (partition_) partition_->end_backward();
    for (detail::ReduceBucket& rb : reduce_buckets_) rb.work.reset();  // waits for the reductions started
    throw;
  }
  in_backward_ = false;
  if (partition_) partition_->end_backward();
  finish_reductions();
  ++micro_;
}

// ---------------------------------------------------------------- clipping

// The arithmetic of nn::utils::clip_grad_norm_, with the accumulators' state in a tensor that travels between
// ranks.
using nn::utils::clip_coefficient;
using nn::utils::NormAccumulator;
using nn::utils::round_to;

double ShardedOptimizer::clip_grad_norm_(double max_norm, double norm_type, bool error_if_nonfinite) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.clip_grad_norm_: called while a backward is running");
  NoGradGuard no_grad;
  std::vector<size_t> with_grad;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].has_grad) with_grad.push_back(i);
  if (with_grad.empty()) return 0.0;
  prepare_master_grads();
  // The gradients clipped are the ones the optimizer sees: float32 master gradients for 16-bit parameters.
  const auto grad_dtype = [&](size_t i) { return buckets_[params_[i].bucket].optimizer_dtype(); };
  DType dtype = grad_dtype(with_grad[0]);
  for (size_t i : with_grad) dtype = promote_types(dtype, grad_dtype(i));

  // Per parameter, the norm accumulated over its elements in order. At stage 0 every rank holds every
  // reduced gradient; at stages 1-3 the slices take turns, each rank continuing the sums of the parameters
  // that began in the slices before its own, so the additions happen in the same order as in one process.
  const size_t n = params_.size();
  Tensor state = zeros({static_cast<int64_t>(2 * n)}, kFloat64);
  double* s = state.data_ptr<double>();
  for (size_t i = 0; i < n; ++i) s[2 * i] = NormAccumulator::initial(norm_type);
  auto accumulate_own = [&] {
    for (ZeroBucket& b : buckets_) {
      dispatch_floating(b.optimizer_dtype(), "clip_grad_norm_", [&]<class T>() {
        const T* g = static_cast<const T*>(b.slice_grad().data_ptr());
        for (size_t m = 0; m < b.params.size(); ++m) {
          const size_t id = b.params[m];
          if (!params_[id].has_grad) continue;
          const FlatRange o = b.layout.overlap(m, b.range);
          const NormAccumulator norm{norm_type, &s[2 * id], &s[2 * id + 1]};
          for (int64_t e = o.begin; e < o.end; ++e) norm.add(static_cast<double>(g[e - b.range.begin]));
        }
      });
    }
  };
  if (stage_ == 0) {
    accumulate_own();
  } else {
    for (int r = 0; r < comm_.world_size(); ++r) {
      if (r == comm_.rank()) accumulate_own();
      comm_.broadcast(state, r);
    }
  }
  double total_acc = NormAccumulator::initial(norm_type), total_nan = 0;
  const NormAccumulator total{norm_type, &total_acc, &total_nan};
  for (size_t i : with_grad) {
    const NormAccumulator norm{norm_type, &s[2 * i], &s[2 * i + 1]};
    total.add(round_to(norm.result(), grad_dtype(i)));
  }
  const double total_norm = round_to(total.result(), dtype);
  const double coef = clip_coefficient(total_norm, max_norm, norm_type, dtype, error_if_nonfinite);
  if (std::isnan(coef) || coef < 1.0) {
    for (ZeroBucket& b : buckets_) {
      for (size_t m = 0; m < b.params.size(); ++m) {
        if (!params_[b.params[m]].has_grad) continue;
        const FlatRange o = b.layout.overlap(m, b.range);
        if (o.end > o.begin) span(b.slice_grad(), o.begin - b.range.begin, o.end - o.begin).mul_(coef);
      }
    }
  }
  return total_norm;
}

// ---------------------------------------------------------------- step, zero_grad

void ShardedOptimizer::step() {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.step: called while a backward is running");
  NoGradGuard no_grad;
  prepare_master_grads();
  // float16's largest value is 65504: without loss scaling its gradients overflow easily, and the step would
  // turn the weights into NaN. Checked for a float16 model, and for any model after a float16 autocast scope
  // on this rank (as Optimizer::step checks; every rank runs the same program, so all of them check). Every
  // rank raises together: the check is collective.
  const bool float16 = std::any_of(buckets_.begin(), buckets_.end(), [](const ZeroBucket& b) {
    return b.layout.dtype == kFloat16;
  });
  const uint64_t autocast_scopes = graft::detail::float16_autocast_scopes();
  const bool autocast = autocast_scopes != float16_scopes_seen_;
  float16_scopes_seen_ = autocast_scopes;
  if ((float16 || autocast) && any_nonfinite_gradient()) {
    end_step();
    GRAFT_FAIL("ShardedOptimizer.step: a gradient is inf or NaN after {}: float16 overflowed. Scale the loss with "
               "optim::GradScaler (opt.backward(scaler.scale(loss)); opt.step(scaler); scaler.update()), which "
               "skips such steps, or train in bfloat16; the parameters are unchanged",
               float16 ? "a float16 backward" : "float16 autocast");
  }
  update();
  end_step();
}

void ShardedOptimizer::unscale_(GradScaler& scaler) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.unscale_: called while a backward is running");
  NoGradGuard no_grad;
  prepare_master_grads();
  scaler.unscale_(*inner_, [this](double inv_scale) { return unscale_gradients(inv_scale); });
}

bool ShardedOptimizer::step(GradScaler& scaler) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.step: called while a backward is running");
  NoGradGuard no_grad;
  prepare_master_grads();
  const bool stepped =
      scaler.step(*inner_, [this](double inv_scale) { return unscale_gradients(inv_scale); }, [this] { update(); });
  end_step();
  return stepped;
}

bool ShardedOptimizer::any_nonfinite_gradient() {
  bool found = false;
  for (const ZeroBucket& b : buckets_) {
    const Tensor& g = b.slice_grad();
    if (g.defined() && g.numel() > 0 && !optim::detail::all_finite(g)) {
      found = true;
      break;
    }
  }
  if (stage_ == 0) return found;  // every rank holds every reduced gradient
  Tensor any = full({1}, found ? 1.0 : 0.0, kFloat32);
  comm_.all_reduce(any);
  return any.item<double>() > 0;
}

bool ShardedOptimizer::unscale_gradients(double inv_scale) {
  const bool found_inf = any_nonfinite_gradient();
  for (ZeroBucket& b : buckets_) {
    Tensor g = b.slice_grad();
    if (g.defined() && g.numel() > 0) g.mul_(inv_scale);
  }
  return found_inf;
}

void ShardedOptimizer::prepare_master_grads() {
  if (master_grads_) return;
  for (ZeroBucket& b : buckets_) {
    if (!b.mixed()) continue;
    b.master_grad = b.reduced.to(kFloat32);
    if (b.inner) b.inner->set_grad_buffer(b.master_grad);
  }
  master_grads_ = true;
}

void ShardedOptimizer::release_master_grads() {
  for (ZeroBucket& b : buckets_) {
    if (!b.mixed()) continue;
    if (b.inner) b.inner->set_grad_buffer(Tensor());
    b.master_grad = Tensor();
  }
  master_grads_ = false;
}

void ShardedOptimizer::update() {
  for (ZeroBucket& b : buckets_) {
    if (!b.inner) continue;
    for (size_t j = 0; j < b.inner->size(); ++j) {
      Tensor piece = b.inner->members()[j];
      piece.mutable_grad() =
          params_[b.params[b.piece_members[j]]].has_grad ? b.inner->slot_view(b.inner->grads(), j) : Tensor();
    }
  }
  inner_->step();
  for (ZeroBucket& b : buckets_)
    if (b.mixed()) b.slice.copy_(b.master);  // rounded to the parameters' 16 bits
  if (stage_ == 1 || stage_ == 2) {
    for (ZeroBucket& b : buckets_)
      if (b.layout.padded() > 0) comm_.all_gather(b.slice, b.flat);
  }
  if (partition_) partition_->bump_versions();
}

void ShardedOptimizer::end_step() {
  release_master_grads();
  micro_ = 0;
}

void ShardedOptimizer::zero_grad(bool set_to_none) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.zero_grad: called while a backward is running");
  NoGradGuard no_grad;
  release_master_grads();
  micro_ = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    ZeroBucket& b = buckets_[i];
    if (stage_ <= 1) {
      b.local.zero_();
      if (set_to_none) point_grads_at(i, Tensor());
    } else {
      b.reduced.zero_();
    }
  }
  if (set_to_none)
    for (ZeroParam& p : params_) p.has_grad = false;
}

// ---------------------------------------------------------------- inspection

ModelStateMemory ShardedOptimizer::memory() const {
  ModelStateMemory m;
  for (const ZeroBucket& b : buckets_) {
    const double size = static_cast<double>(element_size(b.layout.dtype));
    const double optimizer_size = static_cast<double>(element_size(b.optimizer_dtype()));
    const int64_t params = stage_ < 3 ? b.flat.numel() : b.slice.numel();
    int64_t grads = 0;
    for (const Tensor* t : {&b.local, &b.extra})
      if (t->defined()) grads += t->numel();
    if (stage_ >= 2) grads += b.reduced.numel();
    int64_t states = 0, buffers = 0;
    if (b.inner) {
      for (const auto& [name, buffer] : b.inner->states()) {
        states += buffer.numel();
        ++buffers;
      }
      m.state_elements += b.slice.numel();
    }
    if (b.mixed()) {  // the master weights are optimizer state (the paper's K = 12 counts them)
      states += b.master.numel();
      ++buffers;
    }
    const int64_t master_grads = b.master_grad.defined() ? b.master_grad.numel() : 0;
    m.parameter_elements += params;
    m.gradient_elements += grads + master_grads;
    m.state_buffers = std::max(m.state_buffers, buffers);
    m.bytes.parameters += size * static_cast<double>(params);
    m.bytes.gradients += size * static_cast<double>(grads) + optimizer_size * static_cast<double>(master_grads);
    m.bytes.optimizer_states += optimizer_size * static_cast<double>(states);
  }
  if (partition_) {
    m.bytes.parameters += static_cast<double>(partition_->resident_bytes());
    m.parameter_elements += partition_->resident_elements();
  }
  return m;
}

int64_t ShardedOptimizer::num_parameters() const {
  int64_t n = 0;
  for (const ZeroParam& p : params_) n += p.tensor.numel();
  return n;
}

int64_t ShardedOptimizer::num_padded_parameters() const {
  int64_t n = 0;
  for (const ZeroBucket& b : buckets_) n += b.layout.padded();
  return n;
}

nn::StateDict ShardedOptimizer::gathered_state_dict() {
  std::vector<size_t> all(params_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  if (partition_) partition_->gather(all);
  nn::StateDict dict;
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : model_.state_dict()) dict.emplace_back(name, graft::clone(t));
  }
  if (partition_) partition_->release(all);
  return dict;
}

}  // namespace graft::optim::zero
