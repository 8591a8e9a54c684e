#pragma once
// What the ZeRO tests train (shared by the in-process suite and the MPI test): a small MLP with uneven sizes,
// a deterministic data set cut into global micro-batches, one ZeRO run per rank, and the single-process
// references (gradient accumulation over the same micro-batches, and the global batch in one forward). With a
// bfloat16 or float16 model, the reference is mixed-precision training: 16-bit gradients accumulated over the
// micro-batches, an optimizer over float32 master copies of the parameters, rounded back after each step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "graft/graft.h"
#include "graft/optim/zero/zero.h"

namespace zero_test {

using namespace graft;
namespace zero = graft::optim::zero;
namespace F = graft::nn::functional;

// x -> [proj (frozen, optional)] -> fc1 -> relu -> fc2. fc1: 5 -> 7, fc2: 7 -> 3 (35 + 7 + 21 + 3 parameters,
// so slices cut through parameters and fc2.bias is smaller than the world).
class Mlp : public nn::Module {
 public:
  Mlp(int64_t in, int64_t hidden, int64_t out, bool frozen_projection, DType dtype) : Module("Mlp") {
    if (frozen_projection) {
      proj = register_module("proj", std::make_shared<nn::Linear>(in, in, true, dtype));
      for (Tensor& p : proj->parameters()) p.requires_grad_(false);
    }
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in, hidden, true, dtype));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out, true, dtype));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = proj ? proj(x) : x;
    return fc2(F::relu(fc1(h)));
  }
  nn::Child<nn::Linear> proj, fc1, fc2;
};

struct TrainSetup {
  int64_t in = 5, hidden = 7, out = 3;
  int64_t micro_batch = 4;  // samples per micro-batch
  int micro_batches = 12;   // global micro-batches per step (divisible by 1, 2, 3, 4)
  int steps = 3;
  std::string optimizer = "adam";  // sgd, momentum, adam, adamw, amsgrad
  double clip = 0;                 // max_norm of clip_grad_norm_, 0 for none
  bool frozen = false;             // a frozen first layer, listed in the group
  bool two_groups = false;         // fc1 and fc2 in groups of their own, with different options
  DType dtype = kFloat32;
  uint64_t seed = 7;
  double loss_scale = 0;        // a GradScaler with this init_scale (0: none)
  int64_t growth_interval = 2;  // its growth_interval
  int64_t reduce_bucket_size = 0;  // ShardedOptimizer's reduce_bucket_size (0: its default)
  bool overlap_comm = true;        // ShardedOptimizer's overlap_comm
  int64_t prefetch_bucket_size = -1;  // ShardedOptimizer's prefetch_bucket_size (-1: its default)
};

inline optim::GradScaler make_scaler(const TrainSetup& s) {
  optim::GradScalerOptions options;
  options.init_scale = s.loss_scale;
  options.growth_interval = s.growth_interval;
  return optim::GradScaler(options);
}

struct Data {
  std::vector<Tensor> x, y;  // per step * micro_batches + j
  const Tensor& input(const TrainSetup& s, int step, int j) const { return x[static_cast<size_t>(step * s.micro_batches + j)]; }
  const Tensor& target(const TrainSetup& s, int step, int j) const { return y[static_cast<size_t>(step * s.micro_batches + j)]; }
};

inline Data make_data(const TrainSetup& s) {
  Generator gen(s.seed + 1000);
  Data d;
  for (int k = 0; k < s.steps * s.micro_batches; ++k) {
    d.x.push_back(randn({s.micro_batch, s.in}, s.dtype, &gen));
    d.y.push_back(randint(0, s.out, {s.micro_batch}, kInt64, &gen));
  }
  return d;
}

// Every call returns the same initial model.
inline std::shared_ptr<Mlp> make_model(const TrainSetup& s) {
  manual_seed(s.seed);
  return std::make_shared<Mlp>(s.in, s.hidden, s.out, s.frozen, s.dtype);
}

inline std::vector<optim::OptimizerParamGroup> make_groups(const TrainSetup& s, Mlp& m) {
  if (!s.two_groups) return {optim::OptimizerParamGroup(m.parameters())};
  std::vector<Tensor> first = m.fc1->parameters(), second = m.fc2->parameters();
  if (m.proj)
    for (const Tensor& p : m.proj->parameters()) first.insert(first.begin(), p);
  std::unique_ptr<optim::OptimizerOptions> options;
  if (s.optimizer == "sgd" || s.optimizer == "momentum") options = optim::SGDOptions(0.02).momentum(0.5).clone();
  else if (s.optimizer == "adamw") options = optim::AdamWOptions(3e-3).weight_decay(0.2).clone();
  else options = optim::AdamOptions(3e-3).weight_decay(0.05).clone();
  return {optim::OptimizerParamGroup(first, std::move(options)), optim::OptimizerParamGroup(second)};
}

inline zero::OptimizerFactory make_factory(const TrainSetup& s) {
  if (s.optimizer == "sgd") return zero::optimizer_factory<optim::SGD>(optim::SGDOptions(0.05));
  if (s.optimizer == "momentum")
    return zero::optimizer_factory<optim::SGD>(optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
  if (s.optimizer == "adamw") return zero::optimizer_factory<optim::AdamW>(optim::AdamWOptions(1e-2));
  if (s.optimizer == "amsgrad")
    return zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-2).amsgrad(true).weight_decay(1e-2));
  return zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-2));
}

inline Tensor micro_batch_loss(const TrainSetup& s, Mlp& m, const Tensor& x, const Tensor& y) {
  // The micro-batch's share of the global batch's mean loss.
  return F::cross_entropy(m.forward(x), y) / static_cast<double>(s.micro_batches);
}

// What a run produced, step by step.
struct Trace {
  std::vector<double> losses;                // per step: the sum of its micro-batch losses, in order j
  std::vector<optim::Checkpoint> states;     // per step, after it: {"model": ..., "optimizer": ...}
  std::vector<double> norms;                 // per step: clip_grad_norm_'s result (when clipping)
  std::vector<double> scales;                // per step: the GradScaler's scale after update() (with one)
  int skipped = 0;                           // steps the GradScaler skipped
};

// One rank's part of a ZeRO run: micro-batch j of each step runs on rank j % W (round j / W).
struct RankTrace {
  std::vector<std::vector<std::pair<int, double>>> losses;  // per step: (j, loss)
  std::vector<optim::Checkpoint> shards;                    // per step
  std::vector<double> norms;
  std::vector<double> scales;
  int skipped = 0;
};

inline RankTrace run_rank(const TrainSetup& s, const Data& data, Mlp& model, zero::Communicator& comm, int stage) {
  zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, stage);
  if (s.reduce_bucket_size > 0) opt.set_reduce_bucket_size(s.reduce_bucket_size);
  opt.set_overlap_comm(s.overlap_comm);
  if (s.prefetch_bucket_size >= 0) opt.set_prefetch_bucket_size(s.prefetch_bucket_size);
  const int W = comm.world_size(), r = comm.rank();
  RankTrace trace;
  optim::GradScaler scaler = make_scaler(s.loss_scale > 0 ? s : TrainSetup{.loss_scale = 1});
  for (int step = 0; step < s.steps; ++step) {
    trace.losses.emplace_back();
    for (int j = r; j < s.micro_batches; j += W) {
      Tensor loss = micro_batch_loss(s, model, data.input(s, step, j), data.target(s, step, j));
      trace.losses.back().emplace_back(j, loss.item<double>());
      opt.backward(s.loss_scale > 0 ? scaler.scale(loss) : loss);
    }
    if (s.loss_scale > 0) {
      if (s.clip > 0) {
        opt.unscale_(scaler);
        trace.norms.push_back(opt.clip_grad_norm_(s.clip));
      }
      if (!opt.step(scaler)) ++trace.skipped;
      scaler.update();
      trace.scales.push_back(scaler.get_scale());
    } else {
      if (s.clip > 0) trace.norms.push_back(opt.clip_grad_norm_(s.clip));
      opt.step();
    }
    trace.shards.push_back(opt.shard_checkpoint());
  }
  return trace;
}

inline double sum_in_order(std::vector<std::pair<int, double>> losses) {
  std::sort(losses.begin(), losses.end());
  double total = 0;
  for (const auto& [j, v] : losses) total += v;
  return total;
}

// One trace from every rank's: the losses summed in micro-batch order, the shards consolidated, and the
// clipping norms (the same on every rank) taken from rank 0.
inline Trace merge_rank_traces(const std::vector<RankTrace>& ranks, int steps, bool clipped) {
  Trace trace;
  for (size_t step = 0; step < static_cast<size_t>(steps); ++step) {
    std::vector<std::pair<int, double>> all;
    std::vector<optim::Checkpoint> shards;
    for (const RankTrace& rt : ranks) {
      all.insert(all.end(), rt.losses[step].begin(), rt.losses[step].end());
      shards.push_back(rt.shards[step]);
    }
    trace.losses.push_back(sum_in_order(all));
    trace.states.push_back(zero::consolidate_shards(shards));
    if (clipped) trace.norms.push_back(ranks[0].norms[step]);
  }
  trace.scales = ranks[0].scales;
  trace.skipped = ranks[0].skipped;
  return trace;
}

// The whole world in-process; the trace is assembled from every rank's.
inline Trace run_zero(const TrainSetup& s, int world_size, int stage) {
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < world_size; ++r) models.push_back(make_model(s));
  std::vector<RankTrace> ranks(static_cast<size_t>(world_size));
  zero::run_in_process(world_size, [&](zero::Communicator& comm) {
    ranks[static_cast<size_t>(comm.rank())] = run_rank(s, data, *models[static_cast<size_t>(comm.rank())], comm, stage);
  });
  return merge_rank_traces(ranks, s.steps, s.clip > 0);
}

inline std::unique_ptr<optim::Optimizer> make_plain_optimizer(const TrainSetup& s, const std::vector<optim::OptimizerParamGroup>& groups) {
  return make_factory(s)(groups);
}

inline optim::Checkpoint plain_state(Mlp& model, const optim::Checkpoint& optimizer_state) {
  nn::StateDict dict;
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : model.state_dict()) dict.emplace_back(name, graft::clone(t));
  }
  optim::Checkpoint c;
  c.insert("model", dict);
  c.insert("optimizer", optimizer_state);
  return c;
}

inline optim::Checkpoint plain_state(Mlp& model, const optim::Optimizer& opt) { return plain_state(model, opt.state_dict()); }

// Mixed-precision training in one process: the 16-bit model accumulates 16-bit gradients over the micro-batches;
// an optimizer steps float32 master copies with float32 copies of the gradients (unscaled and clipped there),
// and the master weights are rounded into the model. The consolidated ZeRO state lists each master weight as the
// optimizer state "master" of its parameter.
inline Trace run_plain_mixed(const TrainSetup& s) {
  const Data data = make_data(s);
  auto model = make_model(s);
  std::vector<optim::OptimizerParamGroup> groups = make_groups(s, *model), master_groups;
  std::vector<std::pair<Tensor, Tensor>> pairs;  // (parameter, master) in the optimizer's order
  for (const optim::OptimizerParamGroup& g : groups) {
    std::vector<Tensor> masters;
    for (const Tensor& p : g.params()) {
      Tensor m = p.detach().to(kFloat32);
      m.requires_grad_(p.requires_grad());
      masters.push_back(m);
      pairs.emplace_back(p, m);
    }
    master_groups.push_back(g.has_options() ? optim::OptimizerParamGroup(masters, g.options().clone())
                                            : optim::OptimizerParamGroup(masters));
  }
  auto opt = make_plain_optimizer(s, master_groups);
  optim::GradScaler scaler = make_scaler(s.loss_scale > 0 ? s : TrainSetup{.loss_scale = 1});
  Trace trace;
  for (int step = 0; step < s.steps; ++step) {
    for (auto& [p, m] : pairs)
      if (p.requires_grad()) p.mutable_grad() = zeros_like(p);
    double total = 0;
    for (int j = 0; j < s.micro_batches; ++j) {
      Tensor loss = micro_batch_loss(s, *model, data.input(s, step, j), data.target(s, step, j));
      total += loss.item<double>();
      (s.loss_scale > 0 ? scaler.scale(loss) : loss).backward();
    }
    {
      NoGradGuard no_grad;
      for (auto& [p, m] : pairs)
        if (p.requires_grad()) m.mutable_grad() = p.grad().to(kFloat32);
    }
    if (s.loss_scale > 0) {
      if (s.clip > 0) {
        scaler.unscale_(*opt);
        trace.norms.push_back(nn::utils::clip_grad_norm_(opt->parameters(), s.clip));
      }
      if (!scaler.step(*opt)) ++trace.skipped;
      scaler.update();
      trace.scales.push_back(scaler.get_scale());
    } else {
      if (s.clip > 0) trace.norms.push_back(nn::utils::clip_grad_norm_(opt->parameters(), s.clip));
      opt->step();
    }
    {
      NoGradGuard no_grad;
      for (auto& [p, m] : pairs) p.copy_(m);
    }
    trace.losses.push_back(total);
    optim::Checkpoint optimizer = opt->state_dict();
    const nlohmann::json meta = nlohmann::json::parse(optimizer.metadata);
    for (const auto& [key, value] : meta["state"].items())
      optimizer.tensors.emplace_back("state." + key + ".master", graft::clone(pairs[std::stoul(key)].second));
    trace.states.push_back(plain_state(*model, optimizer));
  }
  return trace;
}

// Single-process training with gradient accumulation over the same micro-batches, kernels on one thread
// like a rank's.
inline Trace run_plain(const TrainSetup& s) {
  if (is_reduced_floating(s.dtype)) return run_plain_mixed(s);
  Trace trace;
  std::thread worker([&] {
    zero::SingleThreadedKernels one_thread;
    const Data data = make_data(s);
    auto model = make_model(s);
    auto opt = make_plain_optimizer(s, make_groups(s, *model));
    // Start from zeroed gradients, as every ZeRO micro-batch does (PyTorch would adopt the first gradient,
    // which differs from 0 + gradient in the sign of zeros).
    for (Tensor& p : model->parameters())
      if (p.requires_grad()) p.mutable_grad() = zeros_like(p);
    for (int step = 0; step < s.steps; ++step) {
      opt->zero_grad();
      double total = 0;
      for (int j = 0; j < s.micro_batches; ++j) {
        Tensor loss = micro_batch_loss(s, *model, data.input(s, step, j), data.target(s, step, j));
        total += loss.item<double>();
        loss.backward();
      }
      if (s.clip > 0) trace.norms.push_back(nn::utils::clip_grad_norm_(opt->parameters(), s.clip));
      opt->step();
      trace.losses.push_back(total);
      trace.states.push_back(plain_state(*model, *opt));
    }
  });
  worker.join();
  return trace;
}

// Single-process training on the global batch in one forward (any kernels).
inline Trace run_global_batch(const TrainSetup& s) {
  const Data data = make_data(s);
  auto model = make_model(s);
  auto opt = make_plain_optimizer(s, make_groups(s, *model));
  Trace trace;
  for (int step = 0; step < s.steps; ++step) {
    std::vector<Tensor> xs, ys;
    for (int j = 0; j < s.micro_batches; ++j) {
      xs.push_back(data.input(s, step, j));
      ys.push_back(data.target(s, step, j));
    }
    opt->zero_grad();
    Tensor loss = F::cross_entropy(model->forward(cat(xs, 0)), cat(ys, 0));
    loss.backward();
    if (s.clip > 0) trace.norms.push_back(nn::utils::clip_grad_norm_(opt->parameters(), s.clip));
    opt->step();
    trace.losses.push_back(loss.item<double>());
    trace.states.push_back(plain_state(*model, *opt));
  }
  return trace;
}

inline std::string bytes_of(const Tensor& t) {
  Tensor c = graft::contiguous(t);
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel()) * c.element_size());
}

// Same tensors (names, dtypes, shapes, bits) and the same metadata.
inline void expect_identical(const optim::Checkpoint& a, const optim::Checkpoint& b, const std::string& context) {
  EXPECT_EQ(nlohmann::json::parse(a.metadata), nlohmann::json::parse(b.metadata)) << context;
  std::map<std::string, Tensor> in_b(b.tensors.begin(), b.tensors.end());
  EXPECT_EQ(a.tensors.size(), b.tensors.size()) << context;
  for (const auto& [name, t] : a.tensors) {
    auto it = in_b.find(name);
    if (it == in_b.end()) {
      ADD_FAILURE() << context << ": '" << name << "' is missing from the second checkpoint";
      continue;
    }
    EXPECT_EQ(t.dtype(), it->second.dtype()) << context << ": " << name;
    EXPECT_EQ(t.shape(), it->second.shape()) << context << ": " << name;
    if (t.dtype() == it->second.dtype() && t.shape() == it->second.shape()) {
      EXPECT_TRUE(bytes_of(t) == bytes_of(it->second)) << context << ": '" << name << "' differs\n"
                                                       << t << "\n" << it->second;
    }
  }
}

inline void expect_identical(const Trace& a, const Trace& b, const std::string& context) {
  ASSERT_EQ(a.losses.size(), b.losses.size()) << context;
  for (size_t step = 0; step < a.losses.size(); ++step) {
    const std::string at = context + ", step " + std::to_string(step);
    EXPECT_EQ(std::memcmp(&a.losses[step], &b.losses[step], sizeof(double)), 0)
        << at << ": loss " << a.losses[step] << " vs " << b.losses[step];
    expect_identical(a.states[step], b.states[step], at);
  }
  EXPECT_EQ(a.scales, b.scales) << context;
  EXPECT_EQ(a.skipped, b.skipped) << context;
  ASSERT_EQ(a.norms.size(), b.norms.size()) << context;
  for (size_t step = 0; step < a.norms.size(); ++step)
    EXPECT_EQ(std::memcmp(&a.norms[step], &b.norms[step], sizeof(double)), 0)
        << context << ", step " << step << ": norm " << a.norms[step] << " vs " << b.norms[step];
}

// A named setup, for parameterised tests.
struct Case {
  std::string name;
  TrainSetup setup;
};
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// ZeRO at every stage on 1 to 4 ranks against the single-process trace `plain`, bit for bit.
inline void expect_every_stage_and_world_size_identical(const Case& c, const Trace& plain) {
  for (int world = 1; world <= 4; ++world)
    for (int stage = 0; stage <= 3; ++stage)
      expect_identical(run_zero(c.setup, world, stage), plain,
                       c.name + ", W=" + std::to_string(world) + ", stage " + std::to_string(stage));
}

}  // namespace zero_test
