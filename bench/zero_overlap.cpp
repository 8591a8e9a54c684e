// How much of ZeRO's gradient communication overlap_comm hides behind backward, over real MPI ranks.
//   mpirun -np W zero_overlap [--layers L] [--width D] [--batch B] [--steps N] [--bucket ELEMENTS]
// Each rank trains an MLP of L Linear(D, D) + ReLU layers on its own batch of B samples, at stages 0-3, with
// overlap_comm off and on (same reduce buckets), and rank 0 prints one JSON line per (stage, overlap):
//   comm_ms     time per step in ShardedOptimizer.reduce_gradients, the part of backward() after the
//               autograd backward: with overlap off, all of the reduction; with overlap on, what is left exposed
//   step_ms     wall time per training step (forward, backward, step)
//   forward_ms  wall time per forward
// and one line per stage with hidden_fraction = 1 - comm_ms(on) / comm_ms(off): the share of the reduction's
// time that overlap took off the critical path. At stage 3 two more lines compare the forward with and
// without prefetching the next layers' parameters (prefetch_bucket_size 0 against the default), overlap on.
// Ranks use cores / W threads each (at least one).
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "graft/graft.h"
#include "mpi_bench.h"
#include "graft/optim/zero/mpi/mpi_communicator.h"

namespace {

using namespace graft;
namespace zero = graft::optim::zero;
namespace F = graft::nn::functional;
using Clock = std::chrono::steady_clock;

struct Options {
  int64_t layers = 8, width = 512, batch = 64, bucket = 300'000;  // bucket: about one layer
  int steps = 20;
};

class Mlp : public nn::Module {
 public:
  Mlp(int64_t layers, int64_t width) : Module("Mlp") {
    for (int64_t l = 0; l < layers; ++l)
      layers_.push_back(register_module(fmt::format("fc{}", l), std::make_shared<nn::Linear>(width, width)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& layer : layers_) h = F::relu((*layer)(h));  // through the hooks that gather at stage 3
    return h;
  }

 private:
  std::vector<std::shared_ptr<nn::Linear>> layers_;
};

struct Measured {
  double comm_ms = 0, step_ms = 0, forward_ms = 0;
};

Measured run(zero::Communicator& comm, const Options& o, int stage, bool overlap, bool prefetch = true) {
  manual_seed(1);
  Mlp model(o.layers, o.width);
  zero::ShardedOptimizer opt(model, zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-4)), comm, stage);
  opt.set_reduce_bucket_size(o.bucket);
  opt.set_overlap_comm(overlap);
  if (!prefetch) opt.set_prefetch_bucket_size(0);
  manual_seed(100 + static_cast<uint64_t>(comm.rank()));
  const Tensor x = randn({o.batch, o.width}), y = randn({o.batch, o.width});
  double forward_seconds = 0;
  auto train_step = [&] {
    const auto f0 = Clock::now();
    Tensor loss = F::mse_loss(model.forward(x), y);
    forward_seconds += std::chrono::duration<double>(Clock::now() - f0).count();
    opt.backward(loss);
    opt.step();
  };
  train_step();  // warm-up: primitives, buffers, the forward order stage 3 prefetches in
  comm.barrier();
  forward_seconds = 0;
  profiler::profile prof;
  const auto t0 = Clock::now();
  for (int s = 0; s < o.steps; ++s) train_step();
  comm.barrier();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  prof.stop();
  Measured m;
  for (const profiler::FunctionEvent& e : prof.events())
    if (e.name == "ShardedOptimizer.reduce_gradients") m.comm_ms += e.cpu_time_total_us / 1000.0;
  m.comm_ms /= o.steps;
  m.step_ms = 1000.0 * seconds / o.steps;
  m.forward_ms = 1000.0 * forward_seconds / o.steps;
  // Every rank's figures count: take the slowest rank's.
  const std::vector<double> worst = bench::slowest(comm, {m.comm_ms, m.step_ms, m.forward_ms});
  m.comm_ms = worst[0], m.step_ms = worst[1], m.forward_ms = worst[2];
  return m;
}

void emit(const nlohmann::ordered_json& line) {
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  zero::MpiEnvironment mpi(&argc, &argv);
  Options o;
  CLI::App app{"ZeRO's gradient reduction with and without overlap_comm, over MPI ranks (run under mpirun)"};
  app.add_option("--layers", o.layers, "Linear layers")->check(CLI::PositiveNumber);
  app.add_option("--width", o.width, "features per layer")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "samples per rank and step")->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "measured steps per configuration")->check(CLI::PositiveNumber);
  app.add_option("--bucket", o.bucket, "reduce_bucket_size in elements")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    zero::MpiCommunicator comm;
    const int W = comm.world_size();
    bench::share_cores(W);
    for (int stage = 0; stage <= 3; ++stage) {
      Measured off = run(comm, o, stage, false), on = run(comm, o, stage, true);
      if (comm.rank() != 0) continue;
      for (const auto& [overlap, m] : {std::pair{false, off}, std::pair{true, on}})
        emit({{"workload", "zero_overlap"}, {"world_size", W}, {"stage", stage}, {"overlap_comm", overlap},
              {"comm_ms", m.comm_ms}, {"step_ms", m.step_ms}, {"forward_ms", m.forward_ms}});
      emit({{"workload", "zero_overlap"}, {"world_size", W}, {"stage", stage}, {"metric", "hidden_fraction"},
            {"value", off.comm_ms > 0 ? 1.0 - on.comm_ms / off.comm_ms : 0.0}});
    }
    const Measured plain = run(comm, o, 3, true, /*prefetch=*/false), prefetched = run(comm, o, 3, true);
    if (comm.rank() == 0)
      for (const auto& [prefetch, m] : {std::pair{false, plain}, std::pair{true, prefetched}})
        emit({{"workload", "zero_overlap"}, {"world_size", W}, {"stage", 3}, {"prefetch", prefetch},
              {"step_ms", m.step_ms}, {"forward_ms", m.forward_ms}});
  } catch (const Error& e) {
    std::fprintf(stderr, "zero_overlap: %s\n", e.what());
    return 1;
  }
  return 0;
}
