// Writes the seed corpora of the fuzz targets (tests/fuzz/<target>/seeds/), small valid files as graft writes
// them. After a change of a file format: `cmake --build build --target fuzz_make_seeds &&
// build/tests/fuzz_make_seeds tests/fuzz`, and commit the seeds.
#include "graft/graft.h"
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "fuzz_input.h"

using namespace graft;
namespace fs = std::filesystem;
namespace zero = graft::optim::zero;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

void safetensors_seeds(const fs::path& dir) {
  manual_seed(1);
  nn::Linear layer(3, 2);
  nn::save(layer, (dir / "linear.safetensors").string());
  nn::save_safetensors({{"f32", randn({2, 2})},
                        {"f64", randn({3}, kFloat64)},
                        {"i64", tensor(std::vector<int64_t>{-1, 7}, {2})},
                        {"bool", tensor(std::vector<bool>{true, false, true}, {3})},
                        {"scalar", scalar_tensor(2.5)},
                        {"empty", zeros({0, 4})}},
                       (dir / "dtypes.safetensors").string(), {{"format", "pt"}, {"note", "fuzz seed"}});
}

// The fuzz target's model: w (3, 2), b (2) float32 and v (2) float64, trained two steps.
std::vector<Tensor> model() {
  return {full({3, 2}, 0.5, requires_grad()), full({2}, -0.25, requires_grad()),
          full({2}, 1.0, TensorOptions(kFloat64).requires_grad(true))};
}

template <class Opt, class Sched, class Options, class... SchedArgs>
void checkpoint_seed(const fs::path& path, const Options& options, SchedArgs... args) {
  std::vector<Tensor> params = model();
  Opt opt(params, options);
  Sched sched(opt, args...);
  for (int step = 0; step < 2; ++step) {
    for (Tensor& p : params) p.set_grad(full(p.shape(), 0.1 * (step + 1), p.dtype()));
    opt.step();
    sched.step();
  }
  optim::Checkpoint c;
  c.insert("model", nn::StateDict{{"w", params[0]}, {"b", params[1]}, {"v", params[2]}});
  c.insert("optimizer", opt.state_dict());
  c.insert("scheduler", sched.state_dict());
  optim::save_checkpoint(c, path.string());
}

void optimizer_seeds(const fs::path& dir) {
  checkpoint_seed<optim::SGD, optim::StepLR>(dir / "sgd_steplr.safetensors", optim::SGDOptions(0.1).momentum(0.9), 2);
  checkpoint_seed<optim::Adam, optim::LinearWarmupCosineLR>(dir / "adam_warmup_cosine.safetensors",
                                                            optim::AdamOptions(1e-3).amsgrad(true), 2, 6);
  checkpoint_seed<optim::AdamW, optim::CosineAnnealingLR>(dir / "adamw_cosine.safetensors", optim::AdamWOptions(1e-3), 4);
  checkpoint_seed<optim::Adam, optim::MultiStepLR>(dir / "adam_multistep.safetensors", optim::AdamOptions(1e-2),
                                                   std::vector<int64_t>{1, 3});
}

// A small model for the ZeRO seeds: 3 -> 2 linear layer plus a float64 parameter of its own.
struct Tiny : nn::Module {
  nn::Child<nn::Linear> fc = register_module("fc", nn::Linear(3, 2));
  Tensor scale = register_parameter("scale", full({2}, 1.0, kFloat64));
  Tiny() : nn::Module("Tiny") {}
  Tensor forward(const Tensor& x) override { return fc(x) * scale.to(kFloat32); }
};

void zero_seeds(const fs::path& dir) {
  for (int world : {1, 2, 3})
    for (int stage : {1, 3}) {
      const fs::path shards = fuzz::scratch() / fmt::format("w{}s{}", world, stage);
      zero::run_in_process(world, [&](zero::Communicator& comm) {
        manual_seed(3);
        Tiny model;
        zero::ShardedOptimizer opt(model, zero::optimizer_factory<optim::Adam>(optim::AdamOptions(1e-2)), comm, stage);
        opt.backward(model(ones({2, 3})).sum());
        opt.step();
        opt.save(shards.string());
      });
      std::vector<std::string> files;
      for (int r = 0; r < world; ++r) files.push_back(read(zero::shard_path(shards.string(), r, world)));
      write(dir / fmt::format("world{}_stage{}.shards", world, stage), fuzz::pack_files(files));
    }
}

std::string idx(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(d >> shift));
  return out + data;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

void idx_seeds(const fs::path& dir) {
  std::string pixels;
  for (int i = 0; i < 2 * 3 * 3; ++i) pixels.push_back(static_cast<char>(i * 14));
  write(dir / "images.idx", idx({2, 3, 3}, pixels));
  write_gz(dir / "images.idx.gz", idx({2, 3, 3}, pixels));
  write_gz(dir / "labels.idx.gz", idx({4}, std::string{1, 0, 9, 3}));
  write(dir / "empty.idx", idx({0, 28, 28}, ""));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <tests/fuzz directory>\n", argv[0]);
    return 2;
  }
  const fs::path root(argv[1]);
  for (const char* target : {"safetensors", "optimizer_state", "zero_shards", "idx"}) {
    fs::remove_all(root / target / "seeds");
    fs::create_directories(root / target / "seeds");
  }
  safetensors_seeds(root / "safetensors" / "seeds");
  optimizer_seeds(root / "optimizer_state" / "seeds");
  zero_seeds(root / "zero_shards" / "seeds");
  idx_seeds(root / "idx" / "seeds");
  return 0;
}
