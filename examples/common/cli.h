#pragma once
// Flags every training example shares, parsed with CLI11, and a main() wrapper that turns errors into a
// message and exit status 1.
//
//   TrainingFlags flags{.epochs = 10, .batch_size = 128, .lr = 1e-3};
//   CLI::App app{"what this example does"};
//   add_training_flags(app, flags);
//   CLI11_PARSE(app, argc, argv);
//   return run_guarded([&] { prepare(flags); ...; return 0; });
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace graft::examples {

struct TrainingFlags {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::string out_dir = ".";
  bool quick = false;  // the short mode the tests run
  int threads = 0;     // 0: OpenMP's default
  std::string profile;  // --profile FILE (common/profiling.h); empty: no profile
};

// Validators with short messages ("--epochs: must be positive, got 0"), instead of CLI11's range text.
extern const CLI::Validator Positive;     // a number > 0
extern const CLI::Validator NonNegative;  // a number >= 0
extern const CLI::Validator Probability;  // a number in [0, 1]

// --epochs --batch-size --lr --seed --out-dir --quick --threads --profile, with `flags`' values as defaults.
void add_training_flags(CLI::App& app, TrainingFlags& flags);
// Applies --threads and creates --out-dir.
void prepare(const TrainingFlags& flags);
// `out_dir`/`name`.
std::string output_path(const TrainingFlags& flags, const std::string& name);
// While alive, everything written to std::cout also goes to the file `path` (the report an example prints,
// kept in its --out-dir).
class TeeStdout {
 public:
  explicit TeeStdout(const std::string& path);
  ~TeeStdout();
  TeeStdout(const TeeStdout&) = delete;
  TeeStdout& operator=(const TeeStdout&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};
// --quick's smaller setting: `value` becomes `quick_value` unless the command line gave `flag` itself.
template <class T, class U>
void quick_default(const CLI::App& app, const char* flag, T& value, U quick_value) {
  if (app.count(flag) == 0) value = static_cast<T>(quick_value);
}
// Seconds of steady-clock time since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
// Runs `body`, printing any exception as "error: ..." and returning 1 for it.
int run_guarded(const std::function<int()>& body);

}  // namespace graft::examples
