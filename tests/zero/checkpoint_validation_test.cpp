// ZeRO checkpoint tools trust nothing in a shard: every shard's metadata is checked, the shards against each
// other, every bucket's layout against the one its parameters give, and every tensor against its bucket,
// before anything is allocated or copied. A damaged or edited checkpoint is a graft::Error naming the shard
// file, the entry and what is wrong: never an out-of-bounds access, never garbage reported as success.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/errors.h"
#include "zero/harness.h"

namespace zero_test {
namespace {

namespace fs = std::filesystem;
using graft::testing::error_of;
using graft::testing::expect_error;
using nlohmann::json;

// The shards of a W = 2, stage-1 Adam run after one step: fc1 (35 + 7) and fc2 (21 + 3) in one group.
const std::vector<optim::Checkpoint>& valid_shards() {
  static const std::vector<optim::Checkpoint> shards = [] {
    TrainSetup s;
    s.steps = 1;
    const Data data = make_data(s);
    std::vector<std::shared_ptr<Mlp>> models = {make_model(s), make_model(s)};
    std::vector<optim::Checkpoint> out(2);
    zero::run_in_process(2, [&](zero::Communicator& comm) {
      Mlp& model = *models[static_cast<size_t>(comm.rank())];
      zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, 1);
      for (int j = comm.rank(); j < s.micro_batches; j += 2)
        opt.backward(micro_batch_loss(s, model, data.input(s, 0, j), data.target(s, 0, j)));
      opt.step();
      out[static_cast<size_t>(comm.rank())] = opt.shard_checkpoint();
    });
    return out;
  }();
  return shards;
}

// The valid shards with `edit` applied to rank `rank`'s "zero" metadata.
std::vector<optim::Checkpoint> edited(int rank, const std::function<void(json&)>& edit) {
  std::vector<optim::Checkpoint> shards = valid_shards();
  json meta = json::parse(shards[static_cast<size_t>(rank)].metadata);
  edit(meta["zero"]);
  shards[static_cast<size_t>(rank)].metadata = meta.dump();
  return shards;
}

// Every tool fails the same way on these shards.
void expect_corrupt(const std::vector<optim::Checkpoint>& shards, const std::vector<std::string>& fragments) {
  expect_error([&] { zero::consolidate_shards(shards); }, fragments);
  expect_error([&] { zero::reshard(shards, 3); }, fragments);
  expect_error([&] { zero::describe_shards(shards); }, fragments);
}

TEST(ZeroCheckpointValidation, TheValidShardsPass) {
  const zero::CheckpointInfo info = zero::describe_shards(valid_shards());
  EXPECT_EQ(info.world_size, 2);
  EXPECT_EQ(info.optimizer, "Adam");
  ASSERT_EQ(info.params.size(), 4u);
  EXPECT_EQ(info.params[0].shape, (Shape{7, 5}));
  EXPECT_EQ(info.params[0].step, 1);
  EXPECT_NO_THROW(zero::consolidate_shards(valid_shards()));
}

TEST(ZeroCheckpointValidation, AnOffsetOrSizeOutsideTheBufferIsCaught) {
  // An offset past the bucket, and a parameter shape larger than its slot: both would read outside the
  // consolidated buffer.
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["offsets"][1] = 100000; }),
                 {"zero_rank0_of_2.safetensors", "bucket 0 of group 0", "layout", "offsets [0,48,64,96]"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["numel"] = 1 << 30; }), {"bucket 0 of group 0"});
  expect_corrupt(edited(1, [](json& z) { z["groups"][0]["buckets"][0]["slice"] = 16; }),
                 {"zero_rank1_of_2.safetensors", "'slice' is 16, rank 0 has 64"});
  // The shapes are read from every shard, not only the first.
  expect_corrupt(edited(0, [](json& z) { z["params"][0]["shape"] = {70, 50}; }),
                 {"zero_rank1_of_2.safetensors", "differs from rank 0's", "[70, 50]"});
  expect_corrupt(edited(1, [](json& z) { z["params"][0]["shape"] = {70, 50}; }),
                 {"zero_rank1_of_2.safetensors", "parameter 0", "[70, 50]", "differs from rank 0's"});
  expect_corrupt(edited(0, [](json& z) { z["params"][0]["shape"] = {int64_t{1} << 40, int64_t{1} << 40}; }),
                 {"parameter 0", "more elements than any tensor can have"});
}

TEST(ZeroCheckpointValidation, MembersMustCoverEveryParameterOnce) {
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["members"] = {0, 1, 2}; }),
                 {"group 0", "layout"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["members"] = {0, 1, 2, 2}; }),
                 {"parameter 2 sits in a second bucket"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["members"] = {0, 1, 2, 9}; }),
                 {"member 9 is not one of the 4 parameters"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["members"] = {0, 1, 2, -3}; }),
                 {"member -3"});
}

TEST(ZeroCheckpointValidation, WrongTypesAndRangesNameTheEntry) {
  expect_corrupt(edited(0, [](json& z) { z["params"][1]["step"] = -5; }), {"parameter 1", "'step' is -5"});
  expect_corrupt(edited(1, [](json& z) { z["params"][1]["step"] = "3"; }), {"zero_rank1_of_2", "'step' is \"3\""});
  expect_corrupt(edited(0, [](json& z) { z["params"][1].erase("dtype"); }), {"parameter 1", "has no 'dtype'"});
  expect_corrupt(edited(0, [](json& z) { z["params"][1]["dtype"] = "int64"; }), {"dtype 'int64'"});
  expect_corrupt(edited(0, [](json& z) { z["stage"] = 7; }), {"'stage' is 7"});
  expect_corrupt(edited(1, [](json& z) { z["stage"] = 2; }), {"zero_rank1_of_2", "stage"});
  expect_corrupt(edited(1, [](json& z) { z["rank"] = 0; }), {"zero_rank1_of_2", "it holds the state of rank 0"});
  expect_corrupt(edited(0, [](json& z) { z["world_size"] = 3; }), {"saved by 3 ranks but 2 shards"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["options"]["lr"] = "fast"; }), {"option 'lr'"});
  expect_corrupt(edited(1, [](json& z) { z["groups"][0]["options"]["lr"] = 5.0; }), {"zero_rank1_of_2", "options differ"});
  expect_corrupt(edited(0, [](json& z) { z["groups"][0]["buckets"][0]["states"] = {"exp_avg", "exp_avg"}; }),
                 {"state name \"exp_avg\""});
  expect_corrupt(edited(0, [](json& z) { z["version"] = 2; }), {"'version' is 2"});
  expect_corrupt(edited(0, [](json& z) { z = json::array(); }), {"not a ZeRO shard"});
}

TEST(ZeroCheckpointValidation, TensorsMustMatchTheirBuckets) {
  std::vector<optim::Checkpoint> shards = valid_shards();
  shards[1].tensors.erase(shards[1].tensors.begin());  // g0.b0.params
  expect_corrupt(shards, {"zero_rank1_of_2", "tensor 'g0.b0.params'", "missing"});
  shards = valid_shards();
  shards[1].tensors[0].second = zeros({8});
  expect_corrupt(shards, {"zero_rank1_of_2", "tensor 'g0.b0.params'", "8 elements of float32, expected 64"});
  shards = valid_shards();
  shards[1].tensors.emplace_back("stray", zeros({1}));
  expect_corrupt(shards, {"zero_rank1_of_2", "tensor 'stray'", "not listed by its metadata"});
  shards = valid_shards();
  shards[1].tensors.emplace_back("model.extra", zeros({1}));  // model state belongs to rank 0 only
  expect_corrupt(shards, {"tensor 'model.extra'"});
}

TEST(ZeroCheckpointValidation, LoadingACorruptCheckpointChangesNothing) {
  TrainSetup s;
  const std::vector<optim::Checkpoint> bad = edited(1, [](json& z) { z["params"][0]["shape"] = {70, 50}; });
  std::vector<std::shared_ptr<Mlp>> models = {make_model(s), make_model(s)};
  const Tensor before = models[0]->fc1->weight.detach().clone();
  std::vector<std::string> errors(2);
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_groups(s, model), make_factory(s), comm, 1);
    errors[static_cast<size_t>(comm.rank())] = error_of([&] { opt.load_shards(bad); });
  });
  for (const std::string& e : errors) EXPECT_NE(e.find("zero_rank1_of_2"), std::string::npos) << e;
  EXPECT_TRUE(equal(models[0]->fc1->weight, before));
}

class ShardDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / fmt::format("graft-zero-dir-{}-{}", ::getpid(),
                                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    zero::write_shards(valid_shards(), dir.string());
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(ShardDirectory, AStrayFileWithAHugeRankIsAClearError) {
  std::ofstream(dir / "zero_rank99999999999_of_2.safetensors") << "x";
  const std::string e = error_of([&] { zero::read_shards(dir.string()); });
  EXPECT_NE(e.find("zero_rank99999999999_of_2.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  EXPECT_EQ(e.find("stoi"), std::string::npos) << e;
}

TEST_F(ShardDirectory, ARankNotBelowItsWorldSizeIsAnError) {
  std::ofstream(dir / "zero_rank2_of_2.safetensors") << "x";
  expect_error([&] { zero::read_shards(dir.string()); }, {"zero_rank2_of_2.safetensors", "rank 2 of a world of 2"});
}

TEST_F(ShardDirectory, TemporaryFilesOfASaveInProgressAreIgnored) {
  std::ofstream(dir / ".zero_rank0_of_2.safetensors.tmp-12345-abcdef") << "partial";
  EXPECT_EQ(zero::read_shards(dir.string()).size(), 2u);
}

TEST_F(ShardDirectory, ATruncatedShardNamesItsFile) {
  const fs::path shard = zero::shard_path(dir.string(), 1, 2);
  fs::resize_file(shard, fs::file_size(shard) - 100);
  expect_error([&] { zero::read_shards(dir.string()); }, {"zero_rank1_of_2.safetensors", "truncated"});
}

}  // namespace
}  // namespace zero_test
