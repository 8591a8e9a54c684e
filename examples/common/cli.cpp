#include "cli.h"

#include <omp.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <iostream>

#include "graft/graph/threads.h"
#include "profiling.h"

namespace graft::examples {

namespace {
// A validator of numbers: `ok` says whether the parsed value is allowed, `what` how to say it is not.
CLI::Validator number_validator(std::function<bool(double)> ok, std::string what, std::string name) {
  return CLI::Validator(
      [ok = std::move(ok), what = std::move(what)](std::string& text) -> std::string {
        double value = 0;
        try {
          size_t used = 0;
          value = std::stod(text, &used);
          if (used != text.size()) return "expected a number, got '" + text + "'";
        } catch (const std::exception&) {
          return "expected a number, got '" + text + "'";
        }
        return ok(value) ? std::string() : what + ", got " + text;
      },
      "", std::move(name));
}
}  // namespace

const CLI::Validator Positive = number_validator([](double v) { return v > 0; }, "must be positive", "POSITIVE");
const CLI::Validator NonNegative = number_validator([](double v) { return v >= 0; }, "must be 0 or more", "NONNEGATIVE");
const CLI::Validator Probability =
    number_validator([](double v) { return v >= 0 && v <= 1; }, "must be between 0 and 1", "PROBABILITY");

void add_training_flags(CLI::App& app, TrainingFlags& flags) {
  app.add_option("--epochs", flags.epochs, "passes over the training data")->check(Positive)->capture_default_str();
  app.add_option("--batch-size", flags.batch_size, "examples per step")->check(Positive)->capture_default_str();
  app.add_option("--lr", flags.lr, "learning rate")->check(Positive)->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the initial weights and the shuffling")->capture_default_str();
  app.add_option("--out-dir", flags.out_dir, "where pictures (and checkpoints) go; created if missing")->capture_default_str();
  app.add_flag("--quick", flags.quick, "a short run, a few steps (what the tests run)");
  app.add_option("--threads", flags.threads, "threads (0: the default, OMP_NUM_THREADS or every core)")->check(NonNegative)->capture_default_str();
  add_profile_flag(app, flags.profile);
}

void prepare(const TrainingFlags& flags) {
  if (flags.threads > 0) graft::set_num_threads(flags.threads);
  std::filesystem::create_directories(flags.out_dir);
}

std::string output_path(const TrainingFlags& flags, const std::string& name) {
  return (std::filesystem::path(flags.out_dir) / name).string();
}

struct TeeStdout::Impl : std::streambuf {
  std::ofstream file;
  std::streambuf* console = nullptr;
  int overflow(int c) override {
    if (c == EOF) return 0;
    file.put(static_cast<char>(c));
    return console->sputc(static_cast<char>(c));
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    file.write(s, n);
    return console->sputn(s, n);
  }
  int sync() override {
    file.flush();
    return console->pubsync();
  }
};

TeeStdout::TeeStdout(const std::string& path) : impl_(new Impl) {
  impl_->file.open(path);
  if (!impl_->file) {
    delete impl_;
    throw std::runtime_error("cannot write " + path);
  }
  impl_->console = std::cout.rdbuf(impl_);
}

TeeStdout::~TeeStdout() {
  std::cout.flush();
  std::cout.rdbuf(impl_->console);
  delete impl_;
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
