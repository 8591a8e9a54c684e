// --profile FILE in the examples: the run is recorded by graft::profiler, the Chrome trace lands in FILE and the
// ops that took the most time are printed.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

struct Trace {
  std::map<int64_t, std::string> threads;  // tid -> name
  std::multiset<std::string> names;        // of the complete ("X") events
  std::multimap<std::string, nlohmann::json> events;
};

Trace read_trace(const std::string& path) {
  const nlohmann::json j = nlohmann::json::parse(read_file(path));
  Trace t;
  for (const auto& e : j.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") t.threads[e.at("tid")] = e.at("args").at("name");
    if (e.at("ph") != "X") continue;
    t.names.insert(e.at("name").get<std::string>());
    t.events.emplace(e.at("name").get<std::string>(), e);
  }
  return t;
}

TEST(ExampleProfileFlag, ZeroDemoTracesEveryRanksCollectivesOnItsOwnTrack) {
  TempDir dir;
  const RunResult run = run_example("zero_demo", {"--quick", "--out-dir", dir.path(), "--profile", dir / "trace.json"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("Self CPU time total:"), std::string::npos) << run.output;
  const Trace trace = read_trace(dir / "trace.json");
  std::set<std::string> collective_tracks;
  for (const char* collective : {"all_reduce", "reduce_scatter", "all_gather"}) {
    auto [begin, end] = trace.events.equal_range(collective);
    ASSERT_NE(begin, end) << collective;
    for (auto it = begin; it != end; ++it) {
      const auto& e = it->second;
      EXPECT_EQ(e.at("cat"), "collective");
      const std::string track = trace.threads.at(e.at("tid").get<int64_t>());
      EXPECT_EQ(track, "rank " + std::to_string(e.at("args").at("rank").get<int>()));
      EXPECT_TRUE(e.at("args").contains("bytes_sent"));
      collective_tracks.insert(track);
    }
  }
  EXPECT_EQ(collective_tracks, (std::set<std::string>{"rank 0", "rank 1", "rank 2", "rank 3"}));
}

// --timeline: the same per-rank tracks without the op table, with the waits inside the collectives.
TEST(ExampleProfileFlag, ZeroDemoTimelineHasATrackPerRankWithCollectivesAndWaits) {
  TempDir dir;
  const RunResult run = run_example("zero_demo", {"--quick", "--out-dir", dir.path(), "--timeline", dir / "timeline.json"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.find("Self CPU time total:"), std::string::npos) << "no table without --profile";
  EXPECT_NE(run.output.find("timeline: "), std::string::npos) << run.output;
  const Trace trace = read_trace(dir / "timeline.json");
  std::set<std::string> tracks;
  for (const char* name : {"all_reduce", "reduce_scatter", "all_gather", "wait", "linear"}) {
    auto [begin, end] = trace.events.equal_range(name);
    ASSERT_NE(begin, end) << name;
    for (auto it = begin; it != end; ++it) tracks.insert(trace.threads.at(it->second.at("tid").get<int64_t>()));
  }
  EXPECT_EQ(tracks, (std::set<std::string>{"rank 0", "rank 1", "rank 2", "rank 3"}));
}

TEST(ExampleProfileFlag, TinyGptTracesForwardBackwardAndTheOptimizer) {
  TempDir dir;
  const RunResult run = run_example("tiny_gpt", {"--quick", "--steps", "2", "--warmup", "1", "--threads", "1", "--out-dir", dir.path(),
                                                 "--profile", dir / "trace.json"});
  ASSERT_EQ(run.status, 0) << run.output;
  const Trace trace = read_trace(dir / "trace.json");
  for (const char* name : {"linear", "cross_entropy", "Optimizer.step#AdamW.step"})
    EXPECT_GT(trace.names.count(name), 0u) << name;
  size_t backward = 0;
  for (const auto& [name, e] : trace.events) backward += e.at("cat") == "backward";
  EXPECT_GT(backward, 10u);
  EXPECT_EQ(trace.names.count("Optimizer.step#AdamW.step"), 2u);
  // The printed table, sorted by total time.
  for (const char* column : {"Name", "Self CPU %", "CPU total", "CPU Mem", "# of Calls"})
    EXPECT_NE(run.output.find(column), std::string::npos) << column << "\n" << run.output;
}

TEST(ExampleProfileFlag, EveryTrainingExampleTakesTheFlag) {
  for (const char* program : {"mlp_fashion_mnist", "cnn_fashion_mnist", "tiny_gpt", "char_lstm", "zero_demo",
                              "manual_mlp", "imbalanced_losses"}) {
    const RunResult help = run_example(program, {"--help"});
    EXPECT_NE(help.output.find("--profile"), std::string::npos) << program << "\n" << help.output;
  }
}

}  // namespace
}  // namespace graft::examples::testing
