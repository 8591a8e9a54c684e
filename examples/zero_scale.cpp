// How a ZeRO step scales, predicted by graft's step-time model (graft/optim/zero/step_time.h): the ZeRO paper's
// 7.5B, 128B and 1T models at 1 to 1,024 ranks, stages 0-3, on a stated reference machine or on a machine
// calibrated here (bench/zero_step_time --machine-out FILE), beside what the paper reports.
//   build/examples/zero_scale [--reference dgx2|a100] [--machine FILE] [--models 7.5B,128B,1T]
//                             [--ranks 1,4,16,64,256,1024] [--micro-batch 1] [--sequence 1024]
//                             [--no-checkpointing] [--out-dir DIR] [--timeline FILE] [--timeline-ranks 64]
//                             [--timeline-stage 3]
// Prints one table (step time, samples/s, model TFLOP/s per rank, the share of the step spent waiting for
// collectives, memory per rank; "does not fit" where a rank's memory is too small) and writes to --out-dir
// zero_scale.md (the table) and zero_scale.svg (throughput and memory per rank against the ranks).
// --timeline writes the predicted step of the first model at --timeline-ranks and --timeline-stage as a
// Chrome trace (open it in ui.perfetto.dev beside a measured one).
// The models are trained in the paper's mixed precision (2 + 2 + 12 bytes per parameter) with pure data
// parallelism: no model parallelism (the paper's 100B runs split each model 16 ways inside a node).
#include <graft/graft.h>
#include <graft/optim/zero/step_time.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/cli.h"

using namespace graft;
namespace zero = graft::optim::zero;

namespace {

// The paper's cluster (its section 10.1 and SC20's X-A): DGX-2 nodes of 16 V100-SXM3-32GB, NVSwitch at 300 GB/s
// per link inside a node, 8 x 100 Gb/s InfiniBand per node (12.5 GB/s per link). FLOP/s: the 38 TFLOP/s per GPU
// the paper reports for ZeRO-100B. Latencies (3 us NVSwitch, 5 us InfiniBand) and the optimizer's rate (fused
// Adam: 28 bytes per element at 900 GB/s) are this example's assumptions.
zero::Machine dgx2() {
  zero::Machine m;
  m.name = "DGX-2 cluster (the ZeRO paper's): 16 V100-32GB per node, NVSwitch 300 GB/s, InfiniBand 12.5 GB/s per link";
  m.flops_per_second = 38e12;
  m.optimizer_seconds_per_element = 28.0 / 900e9;
  m.reduction_bytes_per_second = 0;  // fused into the transfer (NCCL)
  m.memory_bytes = 32e9;
  m.ranks_per_node = 16;
  m.intra_node = {3e-6, 300e9};
  m.inter_node = {5e-6, 12.5e9};
  return m;
}

// The reference: 8 GPUs per node with NVLink at 300 GB/s, 100 Gb/s InfiniBand per node's link, 80 GB per
// GPU; 40 % of an A100's 312 TFLOP/s (an assumption), 2 TB/s for the optimizer.
zero::Machine a100() {
  zero::Machine m;
  m.name = "8 x A100-80GB per node, NVLink 300 GB/s, InfiniBand 100 Gb/s (12.5 GB/s); 125 TFLOP/s achieved (assumed)";
  m.flops_per_second = 0.4 * 312e12;
  m.optimizer_seconds_per_element = 28.0 / 2e12;
  m.memory_bytes = 80e9;
  m.ranks_per_node = 8;
  m.intra_node = {3e-6, 300e9};
  m.inter_node = {5e-6, 12.5e9};
  return m;
}

struct PaperModel {
  std::string name;
  int64_t layers, d_model;
};
// GPT-2-like shapes (tied embeddings, a vocabulary of 50,257, heads of 128, FFN 4 d_model) whose parameter counts
// come within 0.5 % of the paper's 7.5B, 128B and 1T (Table 1's models; it gives no shapes for them).
const std::vector<PaperModel> kModels = {{"7.5B", 65, 3072}, {"128B", 159, 8192}, {"1T", 127, 25600}};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << value;
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string reference = "dgx2", machine_file, models_flag = "7.5B,128B,1T", ranks_flag = "1,4,16,64,256,1024";
  std::string out_dir, timeline;
  int64_t micro_batch = 1, sequence = 1024;
  int timeline_ranks = 64, timeline_stage = 3;
  bool no_checkpointing = false;
  CLI::App app{"The ZeRO paper's 7.5B, 128B and 1T models at 1 to 1,024 ranks: step time, throughput and memory per "
               "rank predicted by graft's step-time model"};
  app.add_option("--reference", reference, "reference machine: dgx2 (the paper's cluster) or a100")
      ->check(CLI::IsMember({"dgx2", "a100"}))
      ->capture_default_str();
  app.add_option("--machine", machine_file, "a machine description (JSON, as bench/zero_step_time --machine-out writes) instead");
  app.add_option("--models", models_flag, "comma-separated: 7.5B, 128B, 1T")->capture_default_str();
  app.add_option("--ranks", ranks_flag, "comma-separated world sizes")->capture_default_str();
  app.add_option("--micro-batch", micro_batch, "sequences per rank and step")->check(examples::Positive)->capture_default_str();
  app.add_option("--sequence", sequence, "tokens per sequence")->check(examples::Positive)->capture_default_str();
  app.add_flag("--no-checkpointing", no_checkpointing, "keep every activation (default: checkpoint each block, as the paper)");
  app.add_option("--out-dir", out_dir, "write zero_scale.md and zero_scale.svg here (created if missing)");
  app.add_option("--timeline", timeline, "write the predicted step of the first model as a Chrome trace here");
  app.add_option("--timeline-ranks", timeline_ranks, "world size of the --timeline step")->check(examples::Positive)->capture_default_str();
  app.add_option("--timeline-stage", timeline_stage, "ZeRO stage of the --timeline step")->check(CLI::Range(0, 3))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return examples::run_guarded([&] {
    zero::Machine machine = reference == "dgx2" ? dgx2() : a100();
    if (!machine_file.empty()) {
      std::ifstream in(machine_file);
      GRAFT_CHECK(in.good(), "--machine: cannot read '{}'", machine_file);
      std::stringstream text;
      text << in.rdbuf();
      machine = zero::machine_from_json(text.str());
    }
    std::vector<PaperModel> models;
    for (const std::string& name : split(models_flag)) {
      auto it = std::find_if(kModels.begin(), kModels.end(), [&](const PaperModel& m) { return m.name == name; });
      GRAFT_CHECK(it != kModels.end(), "--models: unknown model '{}' (7.5B, 128B or 1T)", name);
      models.push_back(*it);
    }
    GRAFT_CHECK(!models.empty(), "--models: no model given");
    std::vector<int> ranks;
    for (const std::string& r : split(ranks_flag)) {
      int value = 0;
      try {
        value = std::stoi(r);
      } catch (const std::exception&) {
        GRAFT_FAIL("--ranks: '{}' is not a number", r);
      }
      GRAFT_CHECK(value >= 1, "--ranks: a world size must be at least 1, got {}", value);
      ranks.push_back(value);
    }
    GRAFT_CHECK(!ranks.empty(), "--ranks: no world size given");

    auto describe = [&](const PaperModel& pm) {
      zero::TransformerShape shape;
      shape.layers = pm.layers, shape.d_model = pm.d_model, shape.heads = pm.d_model / 128;
      shape.vocab = 50257, shape.sequence = sequence, shape.tie_embeddings = true;
      shape.activation_checkpointing = !no_checkpointing;
      zero::ModelDescription d = zero::ModelDescription::transformer(shape, micro_batch, pm.name);
      d.param_bytes = 2, d.grad_bytes = 2, d.optimizer_state_bytes = 12;  // the paper's mixed precision
      return d;
    };

    std::ostringstream table;
    table << "Machine: " << machine.name << "\n";
    table << "Micro-batch " << micro_batch << " x " << sequence << " tokens per rank, "
          << (no_checkpointing ? "all activations kept" : "activations checkpointed per block") << ", mixed precision\n\n";
    table << "| model | params | ranks | stage | step s | samples/s | TFLOP/s per rank | waiting % | GB per rank |\n";
    table << "|---|---|---|---|---|---|---|---|---|\n";
    std::vector<utils::Series> throughput, memory;
    for (const PaperModel& pm : models) {
      const zero::ModelDescription d = describe(pm);
      for (int stage = 0; stage <= 3; ++stage) {
        utils::Series tflops{pm.name + " stage " + std::to_string(stage), {}, {}};
        utils::Series gb{tflops.name, {}, {}};
        for (int W : ranks) {
          zero::ZeroSettings settings;
          settings.stage = stage, settings.world_size = W;
          const zero::StepTimePrediction mem = zero::predict_memory(d, settings);
          table << "| " << pm.name << " | " << fixed(static_cast<double>(d.parameters()) / 1e9, 2) << "B | " << W << " | "
                << stage << " | ";
          tflops.x.push_back(std::log2(W)), gb.x.push_back(std::log2(W));
          gb.y.push_back(std::log10(mem.memory_bytes() / 1e9));
          if (machine.memory_bytes > 0 && mem.memory_bytes() > machine.memory_bytes) {
            table << "does not fit | | | | " << fixed(mem.memory_bytes() / 1e9, 1) << " (model states "
                  << fixed(mem.model_state.total() / 1e9, 1) << ") |\n";
            tflops.y.push_back(std::nan(""));
            continue;
          }
          const zero::StepTimePrediction p = zero::predict_step_time(d, settings, machine);
          table << fixed(p.step_seconds, 3) << " | " << fixed(p.samples_per_second, 1) << " | "
                << fixed(p.model_flops_per_second / 1e12, 1) << " | " << fixed(100 * p.exposed_seconds / p.step_seconds, 1)
                << " | " << fixed(p.memory_bytes() / 1e9, 1) << " (model states " << fixed(p.model_state.total() / 1e9, 1)
                << ") |\n";
          tflops.y.push_back(p.model_flops_per_second / 1e12);
        }
        throughput.push_back(std::move(tflops));
        memory.push_back(std::move(gb));
      }
    }
    table << "\nThe paper's figures, for comparison (arXiv 1910.02054 v3; its runs also use 16-way model parallelism "
             "inside a node, which this model does not simulate):\n"
             "- ZeRO-100B trains 100B-parameter models on 400 V100 GPUs at over 38 TFLOP/s per GPU, 15 PFLOP/s in all "
             "(sections 1 and 10.2).\n"
             "- With N_d = 64, stage 1, 2 and 3 fit models of up to 7.5B, 14B and 128B parameters in 32 GB (section 5.4; "
             "model states only).\n"
             "- A 1T-parameter model fits 1,024 GPUs at stage 3: 16 TB of model states, 16 GB per GPU (section 1).\n"
             "- Stages 1 and 2 move 2 Psi per step, as plain data parallelism; stage 3 moves 3 Psi, 1.5 times as much "
             "(section 7).\n";
    std::cout << table.str();
    if (!out_dir.empty()) {
      std::filesystem::create_directories(out_dir);
      utils::write_text_file(table.str(), out_dir + "/zero_scale.md");
      utils::write_text_file(
          utils::curves_svg({{"model TFLOP/s per rank", "log2(ranks)", "TFLOP/s", throughput},
                             {"memory per rank (model states + activations)", "log2(ranks)", "log10(GB)", memory}}),
          out_dir + "/zero_scale.svg");
      std::cout << "wrote " << out_dir << "/zero_scale.md and " << out_dir << "/zero_scale.svg\n";
    }
    if (!timeline.empty()) {
      zero::ZeroSettings settings;
      settings.stage = timeline_stage, settings.world_size = timeline_ranks;
      const zero::StepTimePrediction p = zero::predict_step_time(describe(models.front()), settings, machine);
      zero::export_predicted_chrome_trace(p, timeline);
      std::cout << "wrote the predicted step of " << models.front().name << " at stage " << timeline_stage << " on "
                << timeline_ranks << " ranks (" << fixed(p.step_seconds, 3) << " s) to " << timeline << "\n";
    }
    return 0;
  });
}
