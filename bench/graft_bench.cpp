// graft's benchmarks. Each workload is defined exactly as in the LibTorch anchor
// (../shared/anchors/libtorch/bench.cpp), so the figures compare as ratios when measured in one session.
// Prints one JSON object per line: {"workload":..., "metric":..., "value":...}
//   graft_bench [tiny|gemm|all] [--threads N]      (threads default: $BENCH_THREADS, else 2)
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "graft/graft.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ordered_json keeps the keys in the anchors' order.
void emit(const std::string& workload, const std::string& metric, const nlohmann::ordered_json& value) {
  nlohmann::ordered_json line = {{"workload", workload}, {"metric", metric}, {"value", value}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

// Eager overhead: 300 tiny ops (16 floats) forward + backward per run; 20 warm-up runs, then `reps`.
void tiny_ops(int reps) {
  graft::Tensor x = graft::randn({16}, graft::requires_grad());
  auto run = [&] {
    graft::Tensor y = x;
    for (int i = 0; i < 100; ++i) y = graft::tanh(y * 1.01 + 0.1);
    y.sum().backward();
  };
  for (int i = 0; i < 20; ++i) run();
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) run();
  emit("tiny_ops", "us_per_op_fwd_bwd", seconds_between(t0, Clock::now()) / reps / 301 * 1e6);
}

// Raw f32 matmul throughput through graft::matmul: one warm-up, then `reps` products.
void matmul_1024(int reps) {
  graft::Tensor a = graft::randn({1024, 1024}), b = graft::randn({1024, 1024});
  graft::matmul(a, b);
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) graft::matmul(a, b);
  emit("matmul_1024", "gflops", 2.0 * 1024 * 1024 * 1024 * reps / seconds_between(t0, Clock::now()) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"graft benchmarks: JSON lines {\"workload\", \"metric\", \"value\"}"};
  std::string what = "all";
  const char* env_threads = std::getenv("BENCH_THREADS");
  int threads = env_threads ? std::atoi(env_threads) : 2;
  app.add_option("workload", what, "which workloads to run")->check(CLI::IsMember({"tiny", "gemm", "all"}));
  app.add_option("--threads", threads, "OpenMP threads (default: $BENCH_THREADS, else 2)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  omp_set_num_threads(threads);
  emit("config", "threads", omp_get_max_threads());
  if (what == "all" || what == "gemm") matmul_1024(20);
  if (what == "all" || what == "tiny") tiny_ops(200);
  return 0;
}
