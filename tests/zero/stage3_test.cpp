// ZeRO stage 3: each rank holds only its slice of the parameters; a module's parameters exist in full only
// during its forward and its backward.
#include "zero/harness.h"

namespace zero_test {
namespace {

bool released(const Tensor& p) { return p.storage()->is_released(); }

TEST(ZeroStage3, ParametersArePartitionedOutsideForwardAndBackward) {
  TrainSetup s;
  s.micro_batches = 2;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 3);
    for (const Tensor& p : model.parameters()) EXPECT_TRUE(released(p));
    // Inside fc2's forward, fc2's parameters are whole and fc1's are released again.
    std::vector<bool> seen;
    const size_t pre = model.fc2->register_forward_pre_hook([&](nn::Module&) {
      seen = {released(model.fc1->weight), released(model.fc2->weight), released(model.fc2->bias)};
    });
    model.fc2->register_forward_hook([&](nn::Module&) {
      // This hook was registered after ZeRO's, so it runs after the release.
      EXPECT_TRUE(released(model.fc2->weight));
    });
    Tensor loss = micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank()));
    model.fc2->remove_hook(pre);
    // ZeRO's pre-hook ran first: fc2 gathered; fc1 already released after its own forward.
    EXPECT_EQ(seen, (std::vector<bool>{true, false, false}));
    for (const Tensor& p : model.parameters()) EXPECT_TRUE(released(p));
    opt.backward(loss);
    for (const Tensor& p : model.parameters()) {
      EXPECT_TRUE(released(p));
      EXPECT_FALSE(p.grad().defined());  // the full gradients are freed once reduced
    }
    opt.step();
    for (const Tensor& p : model.parameters()) EXPECT_TRUE(released(p));
    // Reading a partitioned parameter is an error, not a crash.
    try {
      model.fc1->weight.sum().item<double>();
      ADD_FAILURE() << "a released parameter was read";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("released"), std::string::npos) << e.what();
    }
  });
}

TEST(ZeroStage3, BackwardGathersEachModuleAgainAndReleasesItWhenItsGradientsArrive) {
  TrainSetup s;
  s.micro_batches = 2;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 3);
    Tensor loss = micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank()));
    const int64_t forward_gathers = comm.traffic(zero::Collective::AllGather).calls;
    EXPECT_EQ(forward_gathers, 2);  // fc1, then fc2
    // Gradients arrive module by module: when fc2's weight gets its gradient, fc1 has not been gathered yet;
    // when fc1's does, fc2 is gone. ZeRO's own hooks run first and release a module as soon as its last
    // gradient is in, so both are released by the time these hooks look.
    std::vector<bool> at_fc2_grad, at_fc1_grad;
    const size_t h2 = model.fc2->weight.register_hook([&](const Tensor&) {
      at_fc2_grad = {released(model.fc1->weight), released(model.fc1->bias)};
    });
    const size_t h1 = model.fc1->weight.register_hook([&](const Tensor&) {
      at_fc1_grad = {released(model.fc2->weight), released(model.fc2->bias)};
    });
    opt.backward(loss);
    model.fc2->weight.remove_hook(h2);
    model.fc1->weight.remove_hook(h1);
    EXPECT_EQ(at_fc2_grad, (std::vector<bool>{true, true}));
    EXPECT_EQ(at_fc1_grad, (std::vector<bool>{true, true}));
    EXPECT_EQ(comm.traffic(zero::Collective::AllGather).calls, 4);  // fc2 and fc1 again, for backward
    EXPECT_EQ(comm.traffic(zero::Collective::ReduceScatter).calls, 1);
  });
}

TEST(ZeroStage3, GatheredStateDictHoldsTheFullParametersOfStage0) {
  TrainSetup s;
  s.steps = 2;
  const Data data = make_data(s);
  std::vector<nn::StateDict> dicts(2 * 3);
  for (int stage : {0, 3}) {
    std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s), make_model(s)};
    zero::run_in_process(3, [&](zero::Communicator& comm) {
      Mlp& model = *models[static_cast<size_t>(comm.rank())];
      zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
      for (int step = 0; step < s.steps; ++step) {
        for (int j = comm.rank(); j < s.micro_batches; j += 3)
          opt.backward(micro_batch_loss(s, model, data.input(s, step, j), data.target(s, step, j)));
        opt.step();
      }
      dicts[static_cast<size_t>((stage == 3 ? 3 : 0) + comm.rank())] = opt.gathered_state_dict();
      if (stage == 3) {
        for (const Tensor& p : model.parameters()) EXPECT_TRUE(released(p));
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    optim::Checkpoint a, b;
    a.insert("model", dicts[static_cast<size_t>(r)]);
    b.insert("model", dicts[static_cast<size_t>(3 + r)]);
    expect_identical(a, b, "rank " + std::to_string(r));
  }
}

TEST(ZeroStage3, EvaluationForwardWithoutGradWorks) {
  TrainSetup s;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  std::vector<Tensor> outputs(2);
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 3);
    NoGradGuard no_grad;
    outputs[static_cast<size_t>(comm.rank())] = model.forward(data.input(s, 0, 0));
  });
  auto reference = make_model(s);
  EXPECT_TRUE(equal(outputs[0], reference->forward(data.input(s, 0, 0))));
  EXPECT_TRUE(equal(outputs[1], outputs[0]));
}

}  // namespace
}  // namespace zero_test
