// The step-time model (graft/optim/zero/step_time.h) calibrated on this machine and checked against real
// ZeRO training steps over MPI ranks.
//   mpirun -np W zero_step_time [--model mlp|gpt] [--transport NAME] [--steps N] [--machine-out FILE]
//                               [--trace-dir DIR]
// 1. Calibration, every rank at once (so that a rank's rates are those it gets while the others run too):
//    - ping-pong between ranks 0 and 1 (reported: latency and bandwidth of one link);
//    - all_gather and reduce_scatter of 4 KB to 16 MB over all ranks; alpha and the bandwidth are fitted by
//      least squares to the all-gathers' times, (W-1) alpha + (W-1)/W n / bandwidth, and the additions' rate to
//      what the reduce-scatters take beyond that;
//    - overlap_efficiency: a reduce-scatter started without waiting while the rank runs matrix products (and
//      polls the transfer between them, as ShardedOptimizer's gradient hooks do): the share of its time that
//      went by during the products;
//    - flops_per_second: the model's forward and backward (no ZeRO), with the FLOPs the description counts;
//      measured again right before each stage's steps (the machine's speed drifts), and used for that stage;
//    - optimizer_seconds_per_element: torch-style Adam over a flat tensor of the model's size.
//    Rank 0 prints the machine as one JSON line (and writes it to --machine-out).
// 2. Validation: the model trained with ShardedOptimizer at stages 0-3 (reduce buckets of a quarter of the
//    model, overlap_comm and prefetch on); the slowest rank's time per step against predict_step_time's, one
//    JSON line per stage with both and their ratio.
// --trace-dir writes, per stage, the measured steps of every rank (stage<s>_measured.json, one track per rank)
// and the predicted step (stage<s>_predicted.json), to lay side by side in Perfetto.
// The transport is MPI's choice: run under `mpirun --mca btl vader,self` (shared memory) or
// `--mca btl tcp,self` (TCP loopback) and name it with --transport. Ranks use cores / W threads (at least one).
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graft/graft.h"
#include "mpi_bench.h"
#include "graft/optim/zero/mpi/mpi_communicator.h"
#include "graft/optim/zero/mpi/mpi_trace.h"
#include "graft/optim/zero/step_time.h"

namespace {

using namespace graft;
namespace zero = graft::optim::zero;
namespace F = graft::nn::functional;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

struct Options {
  std::string model = "mlp", transport = "default", machine_out, trace_dir;
  int steps = 20;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double slowest(zero::Communicator& comm, double value) { return bench::slowest(comm, {value})[0]; }

// Median over `repeats` of fn's time, the slowest rank's, after a barrier.
template <class Fn>
double timed(zero::Communicator& comm, int repeats, Fn fn) {
  std::vector<double> times;
  fn();  // warm-up
  for (int k = 0; k < repeats; ++k) {
    comm.barrier();
    const auto t0 = Clock::now();
    fn();
    times.push_back(slowest(comm, seconds_since(t0)));
  }
  std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
  return times[static_cast<size_t>(repeats / 2)];
}

// Least squares of y = a x1 + b x2 in relative terms (each point weighted by 1/y^2, so that the small sizes,
// where the latency shows, count as much as the large ones), a and b clamped at 0.
std::pair<double, double> fit(const std::vector<double>& x1, const std::vector<double>& x2, const std::vector<double>& y) {
  double s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double w = 1 / (y[i] * y[i]);
    s11 += w * x1[i] * x1[i], s12 += w * x1[i] * x2[i], s22 += w * x2[i] * x2[i];
    s1y += w * x1[i] * y[i], s2y += w * x2[i] * y[i];
  }
  const double det = s11 * s22 - s12 * s12;
  double a = (s1y * s22 - s2y * s12) / det, b = (s2y * s11 - s1y * s12) / det;
  if (a < 0) a = 0, b = s2y / s22;
  if (b < 0) b = 0, a = s1y / s11;
  return {a, b};
}

// The workload: a model, a batch and its loss.
struct Workload {
  std::shared_ptr<nn::Module> model;
  zero::ModelDescription description;
  std::function<Tensor()> loss;
};

class Mlp : public nn::Module {  // zero_demo's
 public:
  Mlp() : Module("Mlp") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 128));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, 10));
  }
  Tensor forward(const Tensor& x) override { return fc2(F::relu(fc1(x))); }
  nn::Child<nn::Linear> fc1, fc2;
};

Workload make_workload(const std::string& name, int rank) {
  Workload w;
  manual_seed(1);
  if (name == "mlp") {  // zero_demo: 784-128-10, 64 samples per rank
    auto model = std::make_shared<Mlp>();
    w.model = model;
    w.description = zero::ModelDescription::from_module(*model, 64);
    w.description.name = "zero_demo MLP";
    manual_seed(100 + static_cast<uint64_t>(rank));
    const Tensor x = randn({64, 784}), y = randint(0, 10, {64});
    w.loss = [model, x, y] { return F::cross_entropy((*model)(x), y); };
  } else {  // tiny_gpt: 4 blocks of d_model 64, 4 query and 2 key/value heads, windows of 128, 16 per rank
    nn::TransformerLMConfig config;
    config.vocab_size = 96;
    config.num_layers = 4;
    config.attention.kind = nn::AttentionKind::GQA;
    config.attention.d_model = 64;
    config.attention.num_heads = 4;
    config.attention.num_kv_heads = 2;
    config.attention.max_positions = 128;
    auto model = std::make_shared<nn::TransformerLM>(config);
    w.model = model;
    // Module by module, as stage 3 gathers them; attention's scores are not counted as FLOPs, so the measured
    // rate is per counted FLOP (and the compute time what it is).
    w.description = zero::ModelDescription::from_module(*model, 16, 128);
    w.description.name = "tiny_gpt";
    manual_seed(100 + static_cast<uint64_t>(rank));
    const Tensor tokens = randint(0, 96, {16, 129});
    const Tensor x = tokens.narrow(1, 0, 128), y = tokens.narrow(1, 1, 128).reshape({-1});
    w.loss = [model, x, y] { return F::cross_entropy((*model)(x).reshape({-1, 96}), y); };
  }
  return w;
}

// FLOP/s of the model's forward and backward, without ZeRO (FLOPs as the description counts them).
double compute_rate(zero::Communicator& comm, const Workload& w, const Options& o) {
  const double t = timed(comm, o.steps, [&] {
    Tensor loss = w.loss();
    loss.backward();
    w.model->zero_grad();
  });
  return 3 * w.description.forward_flops_per_sample() * static_cast<double>(w.description.micro_batch) / t;
}

zero::Machine calibrate(zero::Communicator& comm, const Workload& w, const Options& o, json& report) {
  const int W = comm.world_size();
  zero::Machine m;
  m.name = fmt::format("this machine, {} ranks, MPI {}", W, o.transport);
  m.ranks_per_node = W;
  // Ping-pong between ranks 0 and 1: half a round trip per message.
  std::vector<double> ones, sizes, half_round;
  for (int64_t bytes = 8; bytes <= (int64_t{1} << 22); bytes *= 8) {
    std::vector<char> buffer(static_cast<size_t>(bytes));
    const int reps = 20;
    comm.barrier();
    const auto t0 = Clock::now();
    for (int k = 0; k < reps && comm.rank() < 2; ++k) {
      const int n = static_cast<int>(bytes);
      if (comm.rank() == 0) {
        MPI_Send(buffer.data(), n, MPI_BYTE, 1, 7, MPI_COMM_WORLD);
        MPI_Recv(buffer.data(), n, MPI_BYTE, 1, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(buffer.data(), n, MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buffer.data(), n, MPI_BYTE, 0, 7, MPI_COMM_WORLD);
      }
    }
    const double t = seconds_since(t0) / (2 * reps);
    ones.push_back(1), sizes.push_back(static_cast<double>(bytes)), half_round.push_back(t);
  }
  const auto [pp_alpha, pp_beta] = fit(ones, sizes, half_round);
  // Collectives over all ranks.
  std::vector<double> steps, moved, gather_t, scatter_t, gather_ms, scatter_ms;
  for (int64_t bytes = 4096; bytes <= (int64_t{1} << 24); bytes *= 4) {
    const int64_t n = bytes / 4 / W * W;
    Tensor full = randn({n}), part = zeros({n / W});
    const int reps = bytes >= (int64_t{1} << 22) ? 5 : 15;
    gather_t.push_back(timed(comm, reps, [&] { comm.all_gather(part, full); }));
    scatter_t.push_back(timed(comm, reps, [&] { comm.reduce_scatter(full, part); }));
    gather_ms.push_back(gather_t.back() * 1e3), scatter_ms.push_back(scatter_t.back() * 1e3);
    steps.push_back(W - 1), moved.push_back(static_cast<double>(W - 1) / W * static_cast<double>(n * 4));
  }
  const auto [alpha, beta] = fit(steps, moved, gather_t);
  m.intra_node = m.inter_node = {alpha, beta > 0 ? 1 / beta : 1e30};
  // The additions: what the reduce-scatters take beyond the all-gather's model, per byte (ordinary least
  // squares through 0: the large sizes, where the additions show, dominate).
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < scatter_t.size(); ++i) {
    sxy += moved[i] * (scatter_t[i] - (steps[i] * alpha + moved[i] * beta));
    sxx += moved[i] * moved[i];
  }
  const double gamma = sxy / sxx;
  m.reduction_bytes_per_second = gamma > 0 ? 1 / gamma : 0;
  // Overlap: a reduce-scatter of the model's gradients in flight while the rank multiplies matrices.
  {
    const int64_t n = std::max<int64_t>(w.description.parameters() / W * W, W);
    Tensor full = randn({n}), part = zeros({n / W});
    const double alone = timed(comm, 9, [&] { comm.reduce_scatter_async(full, part, std::vector<int64_t>(W, n / W))->wait(); });
    const Tensor a = randn({128, 128}), b = randn({128, 128});
    const auto one_product = [&] { (void)matmul(a, b); };
    const double product = timed(comm, 9, [&] {
      for (int k = 0; k < 10; ++k) one_product();
    }) / 10;
    const int products = std::max(1, static_cast<int>(alone / product));
    std::vector<double> exposed, computing;
    for (int k = 0; k < 9; ++k) {
      comm.barrier();
      auto work = comm.reduce_scatter_async(full, part, std::vector<int64_t>(W, n / W));
      const auto t0 = Clock::now();
      for (int j = 0; j < products; ++j) {
        one_product();
        work->is_completed();
      }
      const double c = seconds_since(t0);
      const auto t1 = Clock::now();
      work->wait();
      exposed.push_back(slowest(comm, seconds_since(t1))), computing.push_back(c);
    }
    std::sort(exposed.begin(), exposed.end());
    std::sort(computing.begin(), computing.end());
    const double e = exposed[4], c = computing[4];
    // While computing for c, the transfer did alone - e of its work: at rate (alone - e) / c.
    m.overlap_efficiency = std::clamp((alone - e) / std::max(c, 1e-9), 0.05, 1.0);
    report["overlap_probe"] = {{"reduce_scatter_ms", alone * 1e3}, {"computing_ms", c * 1e3}, {"exposed_ms", e * 1e3}};
  }
  m.flops_per_second = compute_rate(comm, w, o);
  // Adam over the model's parameter count.
  {
    Tensor p = randn({w.description.parameters()}).requires_grad_(true);
    p.mutable_grad() = randn({w.description.parameters()});
    optim::Adam adam({p}, optim::AdamOptions(1e-4));
    m.optimizer_seconds_per_element = timed(comm, 15, [&] { adam.step(); }) / static_cast<double>(p.numel());
  }
  report["ping_pong"] = {{"alpha_us", pp_alpha * 1e6}, {"gb_per_s", pp_beta > 0 ? 1e-9 / pp_beta : 0.0}};
  report["collective_fit"] = {{"bytes_sent", moved}, {"all_gather_ms", gather_ms}, {"reduce_scatter_ms", scatter_ms}};
  return m;
}

// The slowest rank's median time per ShardedOptimizer step at `stage`, on a fresh copy of the workload.
double measure_stage(zero::Communicator& comm, const Options& o, int stage, const std::string& trace) {
  Workload w = make_workload(o.model, comm.rank());
  zero::ShardedOptimizer opt(*w.model, zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-4)), comm, stage);
  opt.set_reduce_bucket_size(std::max<int64_t>(1, w.description.parameters() / 4));
  auto train_step = [&] {
    opt.backward(w.loss());
    opt.step();
  };
  train_step();  // primitives, buffers, the forward order stage 3 prefetches in
  train_step();
  std::optional<profiler::profile> prof;
  if (!trace.empty()) prof.emplace();
  const double t = timed(comm, o.steps, train_step);
  if (prof) {
    prof->stop();
    zero::export_chrome_trace(*prof, dynamic_cast<zero::MpiCommunicator&>(comm), trace);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  zero::MpiEnvironment mpi(&argc, &argv);
  Options o;
  CLI::App app{"The ZeRO step-time model calibrated on this machine and checked against real steps (run under mpirun)"};
  app.add_option("--model", o.model, "mlp (zero_demo's) or gpt (tiny_gpt's)")->check(CLI::IsMember({"mlp", "gpt"}));
  app.add_option("--transport", o.transport, "a name for MPI's transport in the report (shm, tcp)");
  app.add_option("--steps", o.steps, "measured steps per stage (the median counts)")->check(CLI::PositiveNumber);
  app.add_option("--machine-out", o.machine_out, "write the calibrated machine (JSON) here");
  app.add_option("--trace-dir", o.trace_dir, "write measured and predicted Chrome traces per stage here");
  CLI11_PARSE(app, argc, argv);
  try {
    zero::MpiCommunicator comm;
    const int W = comm.world_size();
    bench::share_cores(W);
    const Workload w = make_workload(o.model, comm.rank());
    json report{{"workload", "zero_step_time"}, {"model", o.model}, {"transport", o.transport}, {"world_size", W}};
    const zero::Machine machine = calibrate(comm, w, o, report);
    if (comm.rank() == 0) {
      report["machine"] = json::parse(zero::machine_to_json(machine));
      std::printf("%s\n", report.dump().c_str());
      if (!o.machine_out.empty()) std::ofstream(o.machine_out) << zero::machine_to_json(machine);
    }
    for (int stage = 0; stage <= 3; ++stage) {
      zero::ZeroSettings settings;
      settings.stage = stage, settings.world_size = W;
      settings.reduce_bucket_size = std::max<int64_t>(1, w.description.parameters() / 4);
      const std::string trace = o.trace_dir.empty() ? "" : fmt::format("{}/stage{}_measured.json", o.trace_dir, stage);
      // This VM's speed drifts between runs by up to 1.5x (seen in the MLP's calibrations): the compute rate is
      // measured again next to each stage, the other parameters once.
      zero::Machine now = machine;
      now.flops_per_second = compute_rate(comm, w, o);
      const double measured = measure_stage(comm, o, stage, trace);
      if (comm.rank() != 0) continue;
      const zero::StepTimePrediction p = zero::predict_step_time(w.description, settings, now);
      if (!o.trace_dir.empty())
        zero::export_predicted_chrome_trace(p, fmt::format("{}/stage{}_predicted.json", o.trace_dir, stage));
      const double ratio = p.step_seconds / measured;
      std::printf("%s\n", json{{"workload", "zero_step_time"}, {"model", o.model}, {"transport", o.transport},
                               {"world_size", W}, {"stage", stage}, {"measured_ms", measured * 1e3},
                               {"predicted_ms", p.step_seconds * 1e3}, {"ratio", ratio},
                               {"within_25_percent", ratio >= 0.75 && ratio <= 1.25},
                               {"predicted_forward_ms", p.forward_seconds * 1e3},
                               {"predicted_backward_ms", p.backward_seconds * 1e3},
                               {"predicted_optimizer_ms", p.optimizer_seconds * 1e3},
                               {"predicted_communication_ms", p.communication_seconds * 1e3},
                               {"predicted_exposed_ms", p.exposed_seconds * 1e3}}
                              .dump()
                              .c_str());
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "zero_step_time: %s\n", e.what());
    return 1;
  }
  return 0;
}
