// ZeRO checkpoints from the command line: what a checkpoint directory holds, its consolidation into one
// state dict (a safetensors file a single process can load), and resharding for another world size.
//   build/examples/zero_checkpoint info <dir>
//   build/examples/zero_checkpoint consolidate <dir> <out.safetensors>
//   build/examples/zero_checkpoint reshard <dir> <new dir> <world size>
// build/examples/zero_demo --save <dir> writes such a directory.
#include <graft/graft.h>

#include <filesystem>

#include <iostream>

#include "common/cli.h"

using namespace graft;
namespace zero = graft::optim::zero;

namespace {

void info(const std::string& dir) {
  const zero::CheckpointInfo checkpoint = zero::describe_shards(zero::read_shards(dir));
  std::cout << fmt::format("{}: {} shards (stage {}), optimizer {}, {} parameters\n", dir, checkpoint.world_size,
                           checkpoint.stage, checkpoint.optimizer, checkpoint.params.size());
  // The step count of each parameter (-1: never updated).
  for (const auto& p : checkpoint.params)
    std::cout << fmt::format("  {} {} [{}] step {}\n", p.name, dtype_name(p.dtype), fmt::join(p.shape, ","), p.step);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, out;
  int world_size = 0;
  CLI::App app{"ZeRO checkpoints (one shard per rank): inspect, consolidate into one state dict, or reshard."};
  app.require_subcommand(1);
  std::string out_dir = ".";
  app.add_option("--out-dir", out_dir, "where a relative `out` path is written; created if missing")->capture_default_str();
  CLI::App* info_cmd = app.add_subcommand("info", "the shards, stage, optimizer and parameters of a checkpoint");
  info_cmd->add_option("dir", dir, "checkpoint directory")->required();
  CLI::App* consolidate_cmd =
      app.add_subcommand("consolidate", "rebuild the full state dict (model.* and optimizer.*) as one safetensors file");
  consolidate_cmd->add_option("dir", dir, "checkpoint directory")->required();
  consolidate_cmd->add_option("out", out, "the .safetensors file to write")->required();
  CLI::App* reshard_cmd = app.add_subcommand("reshard", "cut the checkpoint into shards for another world size");
  reshard_cmd->add_option("dir", dir, "checkpoint directory")->required();
  reshard_cmd->add_option("out", out, "the new checkpoint directory")->required();
  reshard_cmd->add_option("world_size", world_size, "the new world size")->required();
  CLI11_PARSE(app, argc, argv);

  return examples::run_guarded([&] {
    if (!out.empty() && std::filesystem::path(out).is_relative()) {
      std::filesystem::create_directories(out_dir);
      out = (std::filesystem::path(out_dir) / out).string();
    }
    if (*info_cmd) {
      info(dir);
    } else if (*consolidate_cmd) {
      const std::vector<optim::Checkpoint> shards = zero::read_shards(dir);
      const optim::Checkpoint full = zero::consolidate_shards(shards);
      optim::save_checkpoint(full, out);
      std::cout << fmt::format("{}: {} shards consolidated into {} ({} tensors: model.* and optimizer.*)\n", dir,
                               shards.size(), out, full.tensors.size());
    } else {
      const std::vector<optim::Checkpoint> shards = zero::read_shards(dir);
      zero::write_shards(zero::reshard(shards, world_size), out);
      std::cout << fmt::format("{}: {} shards resharded into {} shards in {}\n", dir, shards.size(), world_size, out);
    }
    return 0;
  });
}
