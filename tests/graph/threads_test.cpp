// How many threads graft uses: set_num_threads/get_num_threads as in torch, adaptive threads that drop the
// count while the CPUs are oversubscribed (the ThreadGovernor rule, fed synthetic observations here), and the
// ThreadBudget that hands the chosen count to oneDNN.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <omp.h>
#include <sched.h>

#include <chrono>
#include <string>
#include <vector>

#include "graft/graph/error.h"
#include "graft/graph/threads.h"

namespace graft {
namespace {

using Obs = ThreadGovernor::Observation;

constexpr Obs kIdle{0.0, 0};
Obs busy(int others) { return {0.5, others}; }
Obs calm(int others) { return {0.0, others}; }

// Restores the calling thread's count and the adaptive switch after each test.
class Threads : public ::testing::Test {
 protected:
  void TearDown() override {
    omp_set_num_threads(saved_threads_);
    set_adaptive_threads(saved_adaptive_);
  }
  int saved_threads_ = omp_get_max_threads();
  bool saved_adaptive_ = adaptive_threads();
};

// The file that defines `symbol` for a lookup in the global scope, which is where oneDNN's and OpenBLAS's
// calls into OpenMP are bound; empty when no loaded library defines it.
std::string library_defining(const char* symbol, const char* version = nullptr) {
  void* address = version ? dlvsym(RTLD_DEFAULT, symbol, version) : dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

// One thread pool: the runtime that runs oneDNN's regions (GOMP_parallel, libgomp's entry point) is the one
// graft's thread count goes to (omp_set_num_threads) and, in a clang build, the one graft's own regions
// start from (__kmpc_fork_call, libomp's entry point, which then must win over the libgomp oneDNN loads).
TEST_F(Threads, OneDnnAndGraftsOwnLoopsRunOnOneOpenMpRuntime) {
  const std::string gomp_parallel = library_defining("GOMP_parallel", "GOMP_4.0");
  const std::string thread_count = library_defining("omp_set_num_threads");
  ASSERT_FALSE(gomp_parallel.empty()) << "no OpenMP runtime with libgomp's ABI is loaded";
  EXPECT_EQ(gomp_parallel, thread_count);
  const std::string llvm_fork = library_defining("__kmpc_fork_call");
  if (!llvm_fork.empty()) {
    EXPECT_EQ(llvm_fork, gomp_parallel);
  }
}

TEST_F(Threads, SetNumThreadsIsTheOpenMpCountAndRejectsLessThanOne) {
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  EXPECT_EQ(omp_get_max_threads(), 3);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  try {
    set_num_threads(0);
    FAIL() << "set_num_threads(0) did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set_num_threads: threads must be at least 1, got 0"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(get_num_threads(), 1) << "a rejected call changes nothing";
}

TEST_F(Threads, WithoutAdaptiveThreadsEveryRegionGetsTheRequestedCount) {
  set_adaptive_threads(false);
  EXPECT_FALSE(adaptive_threads());
  set_num_threads(4);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(threads_for_next_region(), 4);
}

TEST_F(Threads, TheCountNeverExceedsTheRequestAndIsOneInsideARegion) {
  set_adaptive_threads(true);
  set_num_threads(2);
  for (int i = 0; i < 100; ++i) {
    const int t = threads_for_next_region();
    ASSERT_GE(t, 1);
    ASSERT_LE(t, 2);
  }
  int inside = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp master
    inside = threads_for_next_region();
  }
  EXPECT_EQ(inside, 1);
  set_num_threads(1);
  EXPECT_EQ(threads_for_next_region(), 1);
}

TEST_F(Threads, ABudgetLowersTheOpenMpCountForItsScopeOnlyAndNests) {
  set_adaptive_threads(false);
  set_num_threads(2);
  EXPECT_FALSE(ThreadBudget::active());
  {
    ThreadBudget outer;
    EXPECT_TRUE(ThreadBudget::active());
    EXPECT_EQ(outer.threads(), 2);
    EXPECT_EQ(omp_get_max_threads(), 2);
    {
      ThreadBudget inner;
      EXPECT_EQ(inner.threads(), 2);
    }
    EXPECT_TRUE(ThreadBudget::active());
  }
  EXPECT_FALSE(ThreadBudget::active());
  EXPECT_EQ(omp_get_max_threads(), 2);
}

int cpus_of_this_process() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : omp_get_num_procs();
}

// End to end through /proc: four threads per CPU keep every thread waiting for a CPU most of the time, so
// adaptive threads cut the count to at most the CPUs (fewer if another process is busy meanwhile).
TEST_F(Threads, AskingForMoreThreadsThanCpusIsCutToTheCpus) {
  set_adaptive_threads(true);
  const int cpus = cpus_of_this_process();
  set_num_threads(4 * cpus);
  std::vector<double> data(1 << 16, 1.0);
  const auto start = std::chrono::steady_clock::now();
  int threads = 4 * cpus;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400) && threads > cpus) {
    threads = threads_for_next_region();
#pragma omp parallel for num_threads(threads)
    for (int i = 0; i < static_cast<int>(data.size()); ++i)
      for (int r = 0; r < 20; ++r) data[i] = data[i] * 0.999 + 0.001;
  }
  EXPECT_LE(threads_for_next_region(), cpus);
  EXPECT_GE(threads_for_next_region(), 1);
}

TEST_F(Threads, ABudgetWithABoundRunsOnAtMostThatManyThreads) {
  set_adaptive_threads(false);
  set_num_threads(2);
  {
    ThreadBudget one(1);
    EXPECT_EQ(one.threads(), 1);
    EXPECT_EQ(omp_get_max_threads(), 1);
    int team = 0;
#pragma omp parallel
    {
#pragma omp master
      team = omp_get_num_threads();
    }
    EXPECT_EQ(team, 1);
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
  ThreadBudget loose(8);
  EXPECT_EQ(loose.threads(), 2) << "a bound above the count changes nothing";
}

TEST(ThreadGovernor, AnIdleMachineKeepsTheRequestedCount) {
  ThreadGovernor g;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(g.observe(kIdle, 2, 2), 2);
  EXPECT_EQ(g.current(2), 2);
}

TEST(ThreadGovernor, WaitingForACpuDropsToTheCpusOthersLeaveFree) {
  ThreadGovernor g;
  EXPECT_EQ(g.observe(busy(2), 2, 2), 1) << "two other runnable threads on two CPUs: one thread, not zero";
  ThreadGovernor wide;
  EXPECT_EQ(wide.observe(busy(2), 8, 8), 6) << "eight CPUs, two taken: six threads";
  ThreadGovernor few;
  EXPECT_EQ(few.observe(busy(0), 8, 8), 7) << "a wait with nothing else running (too many threads of our own): one fewer";
}

TEST(ThreadGovernor, ASmallWaitIsNoise) {
  ThreadGovernor g;
  const Obs jitter{ThreadGovernor::kContendedWait / 2, 1};
  for (int i = 0; i < 20; ++i) ASSERT_EQ(g.observe(jitter, 2, 2), 2);
}

TEST(ThreadGovernor, TheCountReturnsOnlyAfterTheCpusStayFreeForSeveralWindows) {
  ThreadGovernor g;
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
  for (int i = 1; i < ThreadGovernor::kCalmWindows; ++i) ASSERT_EQ(g.observe(calm(0), 2, 2), 1) << "window " << i;
  EXPECT_EQ(g.observe(calm(0), 2, 2), 2);
}

TEST(ThreadGovernor, ABusySampleInTheMiddleRestartsTheCalmCount) {
  ThreadGovernor g;
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
  for (int i = 1; i < ThreadGovernor::kCalmWindows; ++i) ASSERT_EQ(g.observe(calm(0), 2, 2), 1);
  ASSERT_EQ(g.observe(calm(2), 2, 2), 1) << "others runnable again: no CPU is free";
  for (int i = 1; i < ThreadGovernor::kCalmWindows; ++i) ASSERT_EQ(g.observe(calm(0), 2, 2), 1);
  EXPECT_EQ(g.observe(calm(0), 2, 2), 2);
}

TEST(ThreadGovernor, AReturnThatHadToBeUndoneWaitsTwiceAsLongNextTime) {
  ThreadGovernor g;
  auto windows_to_return = [&] {
    int n = 0;
    while (g.observe(calm(0), 2, 2) != 2) ++n;
    return n + 1;
  };
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
  EXPECT_EQ(windows_to_return(), ThreadGovernor::kCalmWindows);
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1) << "the machine was busy after all";
  EXPECT_EQ(windows_to_return(), 2 * ThreadGovernor::kCalmWindows);
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
  EXPECT_EQ(windows_to_return(), 4 * ThreadGovernor::kCalmWindows);
}

TEST(ThreadGovernor, TheBackoffIsBoundedAndForgottenOnceTheFullCountHolds) {
  ThreadGovernor g;
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
    int n = 1;
    while (g.observe(calm(0), 2, 2) != 2) ++n;
    ASSERT_LE(n, ThreadGovernor::kMaxCalmWindows);
  }
  for (int i = 0; i < ThreadGovernor::kMaxCalmWindows; ++i) g.observe(kIdle, 2, 2);
  ASSERT_EQ(g.observe(busy(2), 2, 2), 1);
  int n = 1;
  while (g.observe(calm(0), 2, 2) != 2) ++n;
  EXPECT_EQ(n, ThreadGovernor::kCalmWindows) << "after a long calm stretch at the full count";
}

TEST(ThreadGovernor, NeverAboveTheRequestNorBelowOne) {
  ThreadGovernor g;
  EXPECT_EQ(g.observe(busy(100), 4, 4), 1);
  for (int i = 0; i < 10; ++i) g.observe(calm(0), 4, 64);
  EXPECT_EQ(g.current(4), 4) << "more CPUs than requested threads: the request";
  EXPECT_EQ(g.current(2), 2) << "the user lowered the request meanwhile";
  EXPECT_EQ(g.observe(busy(0), 1, 2), 1);
}

}  // namespace
}  // namespace graft
