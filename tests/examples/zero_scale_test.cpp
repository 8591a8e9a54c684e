// examples/zero_scale: the step-time model's table for the paper's models, its picture, its predicted timeline
// and its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ExampleZeroScale, TheTrillionParameterModelFitsOnlyStageThreeOn1024V100s) {
  const std::string dir = ::testing::TempDir() + "zero_scale_out";
  std::filesystem::remove_all(dir);
  const RunResult run = run_example("zero_scale", {"--models", "1T", "--ranks", "64,1024", "--out-dir", dir, "--timeline",
                                                   dir + "/step.json", "--timeline-ranks", "1024"});
  ASSERT_EQ(run.status, 0) << run.output;
  // Model states of 1T parameters in mixed precision: 16 TB over 1,024 ranks (the paper's 16 GB per GPU).
  EXPECT_NE(run.output.find("| 1T | 1000.06B | 1024 | 3 | "), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("(model states 15.6) |"), std::string::npos) << run.output;
  for (int stage = 0; stage <= 2; ++stage)
    EXPECT_NE(run.output.find("| 1T | 1000.06B | 1024 | " + std::to_string(stage) + " | does not fit"), std::string::npos)
        << run.output;
  EXPECT_NE(run.output.find("| 1T | 1000.06B | 64 | 3 | does not fit"), std::string::npos) << run.output;
  EXPECT_NE(read(dir + "/zero_scale.md").find("| 1T | 1000.06B | 1024 | 3 | "), std::string::npos);
  EXPECT_NE(read(dir + "/zero_scale.svg").find("<svg"), std::string::npos);
  const nlohmann::json trace = nlohmann::json::parse(read(dir + "/step.json"));
  int collectives = 0, computes = 0;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") != "X") continue;
    collectives += e.at("cat") == "collective";
    computes += e.at("cat") == "compute";
  }
  EXPECT_GT(collectives, 2 * 127 * 8);  // every module gathered in forward and backward
  EXPECT_GT(computes, 2 * 127 * 6);  // every matrix (norms take no time in the model) forward and backward
}

TEST(ExampleZeroScale, ACalibratedMachineFileReplacesTheReference) {
  const std::string path = ::testing::TempDir() + "zero_scale_machine.json";
  std::ofstream(path) << R"({"name": "tiny box", "flops_per_second": 1e10, "optimizer_seconds_per_element": 1e-9,
    "reduction_bytes_per_second": 0, "memory_bytes": 0, "ranks_per_node": 2,
    "intra_node": {"alpha_seconds": 1e-5, "bytes_per_second": 1e9},
    "inter_node": {"alpha_seconds": 1e-4, "bytes_per_second": 1e8}, "algorithm": "ring", "overlap_efficiency": 0.5})";
  const RunResult run = run_example("zero_scale", {"--machine", path, "--models", "7.5B", "--ranks", "1,2"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("Machine: tiny box"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("does not fit"), std::string::npos) << run.output;  // memory_bytes 0: unlimited
}

TEST(ExampleZeroScale, BadFlagsAreErrors) {
  const RunResult model = run_example("zero_scale", {"--models", "3B"});
  EXPECT_EQ(model.status, 1);
  EXPECT_NE(model.output.find("--models: unknown model '3B'"), std::string::npos) << model.output;
  const RunResult ranks = run_example("zero_scale", {"--ranks", "0"});
  EXPECT_EQ(ranks.status, 1);
  EXPECT_NE(ranks.output.find("--ranks: a world size must be at least 1, got 0"), std::string::npos) << ranks.output;
  const RunResult machine = run_example("zero_scale", {"--machine", "/nonexistent/machine.json"});
  EXPECT_EQ(machine.status, 1);
  EXPECT_NE(machine.output.find("--machine: cannot read"), std::string::npos) << machine.output;
  const RunResult help = run_example("zero_scale", {"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--timeline"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace graft::examples::testing
