#include "cli.h"

#include <omp.h>

#include <filesystem>
#include <iostream>

namespace graft::examples {

void add_training_flags(CLI::App& app, TrainingFlags& flags) {
  app.add_option("--epochs", flags.epochs, "passes over the training data")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch-size", flags.batch_size, "examples per step")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", flags.lr, "learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the initial weights and the shuffling")->capture_default_str();
  app.add_option("--out-dir", flags.out_dir, "where pictures (and checkpoints) go; created if missing")->capture_default_str();
  app.add_flag("--quick", flags.quick, "a short run, a few steps (what the tests run)");
  app.add_option("--threads", flags.threads, "OpenMP threads (0: the default)")->check(CLI::NonNegativeNumber)->capture_default_str();
}

void prepare(const TrainingFlags& flags) {
  if (flags.threads > 0) omp_set_num_threads(flags.threads);
  std::filesystem::create_directories(flags.out_dir);
}

std::string output_path(const TrainingFlags& flags, const std::string& name) {
  return (std::filesystem::path(flags.out_dir) / name).string();
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cout << std::flush;
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace graft::examples
