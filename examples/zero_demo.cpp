// ZeRO stages 0-3 side by side: an MLP trained on Fashion-MNIST by 4 simulated ranks (threads of this process),
// once per stage in float32 and once more in mixed precision (bfloat16 parameters and gradients, float32 master
// weights and Adam state, as in the paper), and two tables of what each rank holds, what it sends per step,
// where training ends, and whether every stage computed exactly what stage 0 (plain data parallelism) computed.
//   build/examples/zero_demo [--steps N] [--ranks W] [--micro-batch B] [--save DIR] [--timeline FILE] [--quick]
// --save writes the stage-3 run's checkpoint (one shard per rank) to DIR, for examples/zero_checkpoint.
// --timeline writes a Chrome trace of the eight runs (open it in ui.perfetto.dev): one track per rank with its
// ops, each collective with the bytes it moved, and the time the rank waited inside it for the others.
// Exits with 1 when a stage disagrees with stage 0, or when measured memory or traffic departs from the
// ZeRO formulas (in mixed precision: the paper's 2 + 2 + 12 bytes per parameter).
#include <graft/graft.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>

#include "common/cli.h"
#include "common/profiling.h"

using namespace graft;
namespace F = graft::nn::functional;
namespace zero = graft::optim::zero;

namespace {

class Mlp : public nn::Module {
 public:
  explicit Mlp(DType dtype) : Module("Mlp") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 128, true, dtype));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, 10, true, dtype));
  }
  Tensor forward(const Tensor& x) override { return fc2(F::relu(fc1(x))); }
  nn::Child<nn::Linear> fc1, fc2;
};

struct Options {
  int steps = 30;
  int ranks = 4;
  int64_t micro_batch = 64;  // one micro-batch per rank and step: the global batch is ranks * micro_batch
  std::string data_dir = data::FashionMNIST::kDefaultRoot;
  std::string save;
};

struct Run {
  std::vector<double> losses;        // per step, summed over the micro-batches in order
  optim::Checkpoint final_state;     // consolidated from the ranks' shards
  zero::ModelStateMemory memory;     // rank 0's, after the last step
  std::vector<zero::ModelStateMemory> memory_per_rank;
  zero::TrafficByCollective traffic;  // summed over ranks and steps
  int64_t psi = 0, padded = 0;
};

// `images` in the model's dtype: float32, or bfloat16 for mixed precision.
Run train(int stage, const Options& o, const Tensor& images, const Tensor& labels) {
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < o.ranks; ++r) {
    manual_seed(0);
    models.push_back(std::make_shared<Mlp>(images.dtype()));
  }
  Run run;
  run.memory_per_rank.resize(static_cast<size_t>(o.ranks));
  std::vector<std::vector<double>> losses(static_cast<size_t>(o.ranks));
  std::vector<optim::Checkpoint> shards(static_cast<size_t>(o.ranks));
  std::vector<zero::TrafficByCollective> traffic(static_cast<size_t>(o.ranks));
  std::mutex mutex;
  zero::run_in_process(o.ranks, [&](zero::Communicator& comm) {
    const int r = comm.rank();
    Mlp& model = *models[static_cast<size_t>(r)];
    zero::ShardedOptimizer opt(model, zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-3)), comm, stage);
    const zero::TrafficByCollective setup = comm.traffic();  // the initial broadcast
    for (int step = 0; step < o.steps; ++step) {
      // Global micro-batch j of the step runs on rank j % W; here j = r.
      const int64_t first = (static_cast<int64_t>(step) * o.ranks + r) * o.micro_batch;
      Tensor loss = F::cross_entropy(model(images.narrow(0, first, o.micro_batch)),
                                     labels.narrow(0, first, o.micro_batch)) /
                    static_cast<double>(o.ranks);
      losses[static_cast<size_t>(r)].push_back(loss.item<double>());
      opt.backward(loss);
      opt.step();
    }
    traffic[static_cast<size_t>(r)] = comm.traffic() - setup;
    run.memory_per_rank[static_cast<size_t>(r)] = opt.memory();
    shards[static_cast<size_t>(r)] = opt.shard_checkpoint();
    if (stage == 3 && images.dtype() == kFloat32 && !o.save.empty()) opt.save(o.save);
    std::lock_guard lock(mutex);
    run.psi = opt.num_parameters();
    run.padded = opt.num_padded_parameters();
  });
  for (int step = 0; step < o.steps; ++step) {
    double total = 0;
    for (int r = 0; r < o.ranks; ++r) total += losses[static_cast<size_t>(r)][static_cast<size_t>(step)];
    run.losses.push_back(total);
  }
  run.final_state = zero::consolidate_shards(shards);
  run.memory = run.memory_per_rank[0];
  for (const auto& t : traffic)
    for (size_t c = 0; c < zero::kNumCollectives; ++c) run.traffic[c] += t[c];
  return run;
}

bool identical(const optim::Checkpoint& a, const optim::Checkpoint& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor &x = a.tensors[i].second, &y = b.tensors[i].second;
    if (a.tensors[i].first != b.tensors[i].first || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
    if (std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<size_t>(x.numel()) * x.element_size()) != 0) return false;
  }
  return true;
}

std::string kb(double bytes) { return fmt::format("{:.1f} kB", bytes / 1e3); }

std::string thousands(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// Stages 0-3 in the dtype of `images`: prints their table; returns the runs and whether everything held.
struct Table {
  std::vector<Run> runs;
  bool agree = true, formulas_hold = true;
};

Table run_stages(const Options& o, const Tensor& images, const Tensor& labels) {
  Table t;
  for (int stage = 0; stage <= 3; ++stage) t.runs.push_back(train(stage, o, images, labels));
  const Run& dp = t.runs[0];
  const bool mixed = images.dtype() != kFloat32;
  double dp_per_step = 0;
  std::cout << "| stage | parameters | gradients | optimizer state | total | = formula | all_reduce | reduce_scatter | "
               "all_gather | per step | x stage 0 | final loss | = stage 0 bit for bit |\n"
               "|---|--:|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|:-:|\n";
  for (int stage = 0; stage <= 3; ++stage) {
    const Run& run = t.runs[static_cast<size_t>(stage)];
    const zero::ModelStateBytes& m = run.memory.bytes;
    // float32 Adam: 4 + 4 + 8 bytes per parameter; mixed precision: the paper's 2 + 2 + 12.
    const zero::ModelStateBytes f = mixed ? zero::zero_model_state_bytes(stage, static_cast<double>(run.padded), o.ranks)
                                          : zero::zero_model_state_bytes(stage, static_cast<double>(run.padded), o.ranks,
                                                                         8, 4, 4);
    bool matches = m.parameters == f.parameters && m.gradients == f.gradients && m.optimizer_states == f.optimizer_states;
    for (const auto& other : run.memory_per_rank) matches = matches && other.bytes.total() == m.total();
    auto per_step = [&](zero::Collective c) {
      return static_cast<double>(run.traffic[static_cast<size_t>(c)].elements_sent) / o.steps / o.ranks;
    };
    const double total = static_cast<double>(zero::total(run.traffic).elements_sent) / o.steps / o.ranks;
    if (stage == 0) dp_per_step = total;
    const double ratio = dp_per_step > 0 ? total / dp_per_step : 1.0;
    const bool same = stage == 0 || (run.losses == dp.losses && identical(run.final_state, dp.final_state));
    const double expected_ratio = stage == 3 ? 1.5 : 1.0;
    t.agree = t.agree && same;
    t.formulas_hold = t.formulas_hold && matches && (o.ranks == 1 || std::abs(ratio - expected_ratio) < 2e-3);
    std::cout << fmt::format("| {} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2f} | {:.6f} | {} |\n", stage,
                             zero::zero_stage_name(stage), kb(m.parameters), kb(m.gradients), kb(m.optimizer_states),
                             kb(m.total()), matches ? "yes" : "NO",
                             thousands(static_cast<int64_t>(per_step(zero::Collective::AllReduce))),
                             thousands(static_cast<int64_t>(per_step(zero::Collective::ReduceScatter))),
                             thousands(static_cast<int64_t>(per_step(zero::Collective::AllGather))),
                             thousands(static_cast<int64_t>(total)), ratio, run.losses.back(),
                             stage == 0 ? "(reference)" : same ? "yes" : "NO");
  }
  return t;
}

int report(const Options& o, const std::string& data_name, const Tensor& images, const Tensor& labels) {
  std::cout << fmt::format(
      "ZeRO on {} simulated ranks: MLP 784-128-10, Adam, {} steps of {} {} images (one micro-batch of {} per rank).\n"
      "Memory: bytes one rank holds after the last step, measured from its buffers; = formula: equal to the ZeRO\n"
      "formula for the padded Psi. Communication: elements one rank sends per step, averaged over ranks, under the\n"
      "ring model.\n\n",
      o.ranks, o.steps, o.ranks * o.micro_batch, data_name, o.micro_batch);
  std::cout << "float32 (4 bytes per parameter and gradient, K = 8 bytes of Adam state):\n\n";
  const Table f32 = run_stages(o, images, labels);
  std::cout << "\nmixed precision (bfloat16 parameters and gradients, float32 master weights and Adam state: the "
               "paper's\n2 + 2 + K bytes, K = 12):\n\n";
  const Table bf16 = run_stages(o, images.to(kBFloat16), labels);
  const Run& dp = f32.runs[0];
  const bool agree = f32.agree && bf16.agree, formulas_hold = f32.formulas_hold && bf16.formulas_hold;
  std::cout << fmt::format(
      "\nPsi = {} parameters ({} with padding); float32: first loss {:.6f}, final loss {:.6f}; mixed precision: "
      "final loss {:.6f}\nall stages agree bit for bit: {}; memory and traffic follow the formulas: {}\n",
      thousands(dp.psi), thousands(dp.padded), dp.losses.front(), dp.losses.back(), bf16.runs[0].losses.back(),
      agree ? "yes" : "NO", formulas_hold ? "yes" : "NO");
  if (!o.save.empty()) std::cout << "stage-3 checkpoint (float32): " << o.save << "\n";
  return agree && formulas_hold ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool quick = false;
  CLI::App app{"ZeRO stages 0-3 side by side: an MLP trained by simulated ranks (threads), in float32 and in mixed "
               "precision, with tables of per-rank memory, communication per step, final loss and bitwise agreement."};
  app.add_option("--steps", o.steps, "optimizer steps per stage")->check(examples::Positive)->capture_default_str();
  app.add_option("--ranks", o.ranks, "world size W (simulated ranks)")->capture_default_str();
  app.add_option("--micro-batch", o.micro_batch, "images per rank and step")->check(examples::Positive)->capture_default_str();
  app.add_option("--data-dir", o.data_dir, "the Fashion-MNIST IDX files (synthetic blobs when missing)")->capture_default_str();
  app.add_option("--save", o.save, "write the stage-3 run's checkpoint (one shard per rank) to this directory");
  app.add_flag("--quick", quick, "a short run, 4 steps (what the tests run)");
  std::string out_dir = ".";
  app.add_option("--out-dir", out_dir, "where the printed table is also saved, as zero_demo.txt; created if missing")
      ->capture_default_str();
  std::string profile_path, timeline_path;
  examples::add_profile_flag(app, profile_path);
  app.add_option("--timeline", timeline_path,
                 "write a Chrome trace with one track per rank: its ops, its collectives (with their bytes) and "
                 "its waits inside them");
  CLI11_PARSE(app, argc, argv);
  if (quick && app.count("--steps") == 0) o.steps = 4;

  return examples::run_guarded([&] {
    std::filesystem::create_directories(out_dir);
    examples::TeeStdout saved((std::filesystem::path(out_dir) / "zero_demo.txt").string());
    // World size 0 or negative is the communicator's error to raise (graft::Error), before any data is read.
    if (o.ranks < 1) zero::run_in_process(o.ranks, [](zero::Communicator&) {});
    const int64_t needed = static_cast<int64_t>(o.steps) * o.ranks * o.micro_batch;
    Tensor images, labels;
    std::string data_name = "Fashion-MNIST";
    try {
      data::FashionMNIST train_set(o.data_dir);
      GRAFT_CHECK(train_set.size() >= needed, "zero_demo: {} steps need {} images, {} has {}", o.steps, needed,
                  o.data_dir, train_set.size());
      images = train_set.inputs().narrow(0, 0, needed);
      labels = train_set.targets().narrow(0, 0, needed);
    } catch (const Error& e) {
      std::cerr << "zero_demo: " << e.what() << "\nzero_demo: using synthetic blobs instead\n";
      std::vector<int64_t> counts(10, (needed + 9) / 10);
      data::TensorDataset blobs = data::make_blobs(counts, 784, 4.0, 1.0, 0);
      Tensor order = randperm(blobs.size());  // the blobs come ordered by class
      images = index_select(blobs.inputs(), 0, order).narrow(0, 0, needed);
      labels = index_select(blobs.targets(), 0, order).narrow(0, 0, needed);
      data_name = "synthetic blobs";
    }
    if (!o.save.empty()) std::filesystem::remove_all(o.save);
    // Every rank is a track of the trace, with its collectives and their bytes.
    examples::RunProfile run_profile(profile_path);
    std::optional<profiler::profile> timeline;
    if (!timeline_path.empty() && profile_path.empty()) timeline.emplace();
    const int status = report(o, data_name, images, labels);
    run_profile.finish();
    if (timeline) {
      timeline->stop();
      timeline->export_chrome_trace(timeline_path);
      std::cout << "timeline: " << timeline_path << " (one track per rank)\n";
    } else if (!timeline_path.empty()) {
      std::filesystem::copy_file(profile_path, timeline_path, std::filesystem::copy_options::overwrite_existing);
      std::cout << "timeline: " << timeline_path << " (one track per rank)\n";
    }
    return status;
  });
}
