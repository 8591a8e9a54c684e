// graft's benchmarks. Each workload is defined exactly as in the LibTorch anchor
// (../shared/anchors/libtorch/bench.cpp), so the figures compare as ratios when measured in one session.
// Prints one JSON object per line: {"workload":..., "metric":..., "value":...}
//   graft_bench [tiny|gemm|gemm-vs-sgemm|all] [--threads N]      (threads default: $BENCH_THREADS, else 2)
// tiny and gemm are the anchor's workloads; gemm-vs-sgemm times graft::matmul against a bare dnnl_sgemm in
// one process (../shared/anchors/onednn/gemm_probe.cpp is the same sgemm as a separate program).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

// graft::matmul against a bare dnnl_sgemm on the same operands, in alternating trials of `reps` products
// within one process, so machine noise hits both alike. The ratio of the two is the overhead graft adds
// around the library (the target is >= 0.9).
void matmul_vs_sgemm(int reps, int trials) {
  graft::Tensor a = graft::randn({1024, 1024}), b = graft::randn({1024, 1024});
  std::vector<float> c(1024 * 1024);
  auto sgemm = [&] {
    dnnl_sgemm('N', 'N', 1024, 1024, 1024, 1.f, a.data_ptr<float>(), 1024, b.data_ptr<float>(), 1024, 0.f, c.data(),
               1024);
  };
  auto matmul = [&] { graft::matmul(a, b); };
  auto gflops = [&](auto& product) {
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) product();
    return 2.0 * 1024 * 1024 * 1024 * reps / seconds_between(t0, Clock::now()) / 1e9;
  };
  sgemm();
  matmul();
  double best_graft = 0, best_sgemm = 0, sum_graft = 0, sum_sgemm = 0;
  for (int t = 0; t < trials; ++t) {
    double g = gflops(matmul), s = gflops(sgemm);
    best_graft = std::max(best_graft, g);
    best_sgemm = std::max(best_sgemm, s);
    sum_graft += g;
    sum_sgemm += s;
  }
  emit("matmul_1024_vs_sgemm", "graft_best_gflops", best_graft);
  emit("matmul_1024_vs_sgemm", "sgemm_best_gflops", best_sgemm);
  emit("matmul_1024_vs_sgemm", "best_ratio", best_graft / best_sgemm);
  emit("matmul_1024_vs_sgemm", "mean_ratio", sum_graft / sum_sgemm);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"graft benchmarks: JSON lines {\"workload\", \"metric\", \"value\"}"};
  std::string what = "all";
  const char* env_threads = std::getenv("BENCH_THREADS");
  int threads = env_threads ? std::atoi(env_threads) : 2;
  app.add_option("workload", what, "which workloads to run")->check(CLI::IsMember({"tiny", "gemm", "gemm-vs-sgemm", "all"}));
  int tiny_reps = 200, gemm_reps = 20;
  app.add_option("--tiny-reps", tiny_reps, "tiny_ops runs after warm-up (the anchor's 200; raise it for profiling)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gemm-reps", gemm_reps, "matmul_1024 products after warm-up (the anchor's 20)")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads (default: $BENCH_THREADS, else 2)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  omp_set_num_threads(threads);
  emit("config", "threads", omp_get_max_threads());
  if (what == "all" || what == "gemm") matmul_1024(gemm_reps);
  if (what == "all" || what == "tiny") tiny_ops(tiny_reps);
  if (what == "all" || what == "gemm-vs-sgemm") matmul_vs_sgemm(gemm_reps, 10);
  return 0;
}
