// ZeRO misuse raises graft::Error with a message that says what is wrong.
#include "zero/harness.h"

namespace zero_test {
namespace {

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ZeroMisuse, BadStageEmptyGroupsAndForeignParameters) {
  TrainSetup s;
  auto model = make_model(s);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    expect_error([&] { zero::ShardedOptimizer(*model, make_factory(s), comm, 4); }, "stage must be 0, 1, 2 or 3, got 4");
    expect_error([&] { zero::ShardedOptimizer(*model, {}, make_factory(s), comm, 1); }, "empty list of parameter groups");
    Tensor stranger = zeros({3}, requires_grad());
    expect_error([&] { zero::ShardedOptimizer(*model, {optim::OptimizerParamGroup({stranger})}, make_factory(s), comm, 1); },
                 "is not a parameter of the model");
    Tensor w = model->fc1->weight;
    expect_error([&] { zero::ShardedOptimizer(*model, {optim::OptimizerParamGroup({w, w})}, make_factory(s), comm, 1); },
                 "appears more than once");
    expect_error([&] { zero::ShardedOptimizer(*model, nullptr, comm, 1); }, "factory is empty");
  });
}

TEST(ZeroMisuse, PlainBackwardInsteadOfTheOptimizersIsCaught) {
  TrainSetup s;
  const Data data = make_data(s);
  auto model = make_model(s);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    zero::ShardedOptimizer opt(*model, make_factory(s), comm, 1);
    Tensor loss = micro_batch_loss(s, *model, data.input(s, 0, 0), data.target(s, 0, 0));
    expect_error([&] { loss.backward(); }, "call backward(loss) on the sharded optimizer");
    expect_error([&] { opt.backward(Tensor()); }, "the loss is undefined");
  });
}

TEST(ZeroMisuse, WorldSizeAndRank) {
  expect_error([] { zero::run_in_process(0, [](zero::Communicator&) {}); }, "world size must be at least 1, got 0");
  zero::InProcessGroup group(3);
  expect_error([&] { group.communicator(3); }, "rank 3 is out of range for world size 3");
}

}  // namespace
}  // namespace zero_test
