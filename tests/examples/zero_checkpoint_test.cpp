// examples/zero_checkpoint on the stage-3 checkpoint zero_demo writes: info, reshard 4 -> 2, consolidate into
// one file equal to the consolidation of the original shards; misuse is a clear error.
#include <gtest/gtest.h>

#include <graft/graft.h>

#include <cstring>
#include <filesystem>

#include "example_runner.h"

namespace graft::examples::testing {
namespace {

namespace zero = graft::optim::zero;

void expect_bitwise_equal(const optim::Checkpoint& a, const optim::Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor &x = a.tensors[i].second, &y = b.tensors[i].second;
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    ASSERT_EQ(x.shape(), y.shape()) << a.tensors[i].first;
    ASSERT_EQ(x.dtype(), y.dtype()) << a.tensors[i].first;
    EXPECT_EQ(std::memcmp(x.contiguous().data_ptr(), y.contiguous().data_ptr(), static_cast<size_t>(x.numel()) * x.element_size()), 0)
        << a.tensors[i].first;
  }
}

TEST(ExampleZeroCheckpoint, InfoReshardAndConsolidateZeroDemosCheckpoint) {
  TempDir dir;
  const std::string w4 = dir / "w4", w2 = dir / "w2", full = dir / "full.safetensors";
  const RunResult demo = run_example("zero_demo", {"--quick", "--save", w4, "--out-dir", dir.path()});
  ASSERT_EQ(demo.status, 0) << demo.output;
  ASSERT_TRUE(std::filesystem::exists(zero::shard_path(w4, 3, 4)));

  const RunResult info = run_example("zero_checkpoint", {"info", w4});
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("4 shards (stage 3), optimizer Adam, 4 parameters"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("fc1.weight float32 [128,784] step 4"), std::string::npos) << info.output;

  const RunResult reshard = run_example("zero_checkpoint", {"reshard", w4, w2, "2"});
  ASSERT_EQ(reshard.status, 0) << reshard.output;
  EXPECT_TRUE(std::filesystem::exists(zero::shard_path(w2, 1, 2)));
  EXPECT_FALSE(std::filesystem::exists(zero::shard_path(w2, 2, 2)));

  const RunResult consolidate = run_example("zero_checkpoint", {"consolidate", w2, full});
  ASSERT_EQ(consolidate.status, 0) << consolidate.output;
  expect_bitwise_equal(optim::load_checkpoint(full), zero::consolidate_shards(zero::read_shards(w4)));
}

TEST(ExampleZeroCheckpoint, HelpAndMisuse) {
  const RunResult help = run_example("zero_checkpoint", {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* word : {"info", "consolidate", "reshard"}) EXPECT_NE(help.output.find(word), std::string::npos) << word;
  EXPECT_NE(run_example("zero_checkpoint", {}).status, 0);
  TempDir dir;
  const RunResult missing = run_example("zero_checkpoint", {"info", dir / "missing"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("is not a directory"), std::string::npos) << missing.output;
  ASSERT_EQ(run_example("zero_demo", {"--quick", "--steps", "1", "--save", dir / "w4", "--out-dir", dir.path()}).status, 0);
  const RunResult zero_world = run_example("zero_checkpoint", {"reshard", dir / "w4", dir / "w0", "0"});
  EXPECT_EQ(zero_world.status, 1);
  EXPECT_NE(zero_world.output.find("the world size must be at least 1, got 0"), std::string::npos) << zero_world.output;
}

}  // namespace
}  // namespace graft::examples::testing
