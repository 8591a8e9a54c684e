// Reduce buckets and overlap_comm: gradients are reduced in buckets of consecutive parameters, formed from the
// last parameter backwards, and each bucket's reduction starts as soon as backward has accumulated its
// gradients. Stage 3's prefetch: the modules after the one whose forward begins are gathered ahead, in the
// order recorded before the first backward. (That the results stay bit for bit those of single-process
// training, at every stage and world size, is in equivalence_test.cpp.)
#include <mutex>

#include "zero/harness.h"

namespace zero_test {
namespace {

TEST(ZeroReduceBuckets, AreFormedFromTheLastParameterBackwardsWithoutSplittingOne) {
  TrainSetup s;  // fc1 (35 + 7 elements), fc2 (21 + 3)
  auto model = make_model(s);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    zero::ShardedOptimizer opt(*model, make_factory(s), comm, 2);
    EXPECT_EQ(opt.reduce_bucket_size(), 500'000'000);
    EXPECT_EQ(opt.num_reduce_buckets(), 1u);
    opt.set_reduce_bucket_size(1);
    EXPECT_EQ(opt.num_reduce_buckets(), 4u);  // one per parameter
    opt.set_reduce_bucket_size(20);
    EXPECT_EQ(opt.num_reduce_buckets(), 2u);  // fc2.bias + fc2.weight = 24 >= 20, then fc1's two
    opt.set_reduce_bucket_size(30);
    EXPECT_EQ(opt.num_reduce_buckets(), 2u);  // 24 < 30 takes fc1.bias too (31); fc1.weight alone is smaller
    opt.set_reduce_bucket_size(100);
    EXPECT_EQ(opt.num_reduce_buckets(), 1u);
  });
}

TEST(ZeroReduceBuckets, ABucketSmallerThanOneElementIsAnError) {
  TrainSetup s;
  auto model = make_model(s);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    zero::ShardedOptimizer opt(*model, make_factory(s), comm, 1);
    try {
      opt.set_reduce_bucket_size(0);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(),
                   "ShardedOptimizer.set_reduce_bucket_size: reduce_bucket_size must be at least 1 element, got 0");
    }
    EXPECT_EQ(opt.reduce_bucket_size(), 500'000'000);
  });
}

// How many of rank 0's reduce-scatters of one micro-batch started before backward had finished (before the
// "ShardedOptimizer.reduce_gradients" scope that ends backward()), and how many there were.
std::pair<int, int> reductions_started_during_backward(bool overlap) {
  TrainSetup s;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  profiler::profile prof;
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 2);
    opt.set_reduce_bucket_size(1);
    opt.set_overlap_comm(overlap);
    opt.backward(micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank())));
  });
  prof.stop();
  std::map<uint32_t, std::string> threads(prof.threads().begin(), prof.threads().end());
  double backward_end = -1;
  for (const auto& e : prof.events())
    if (threads.at(e.thread) == "rank 0" && e.name == std::string("ShardedOptimizer.reduce_gradients"))
      backward_end = e.start_us;
  EXPECT_GE(backward_end, 0.0);
  int before = 0, all = 0;
  for (const auto& e : prof.events()) {
    if (threads.at(e.thread) != "rank 0" || e.name != "reduce_scatter") continue;
    ++all;
    if (e.start_us < backward_end) ++before;
  }
  return {before, all};
}

TEST(ZeroOverlapComm, ReductionsStartWhileBackwardStillRunsOnlyWithOverlap) {
  const auto [before_on, all_on] = reductions_started_during_backward(true);
  EXPECT_EQ(all_on, 4);  // one reduce bucket per parameter
  // Every parameter has its gradient before backward returns, so every bucket starts inside it (in the
  // bucket order, each as soon as it and the buckets before it are complete).
  EXPECT_EQ(before_on, 4);
  const auto [before_off, all_off] = reductions_started_during_backward(false);
  EXPECT_EQ(all_off, 4);
  EXPECT_EQ(before_off, 0);
}

// Rank 0's all-gathers in the second step's forward that come before its first op: the module's own, plus the
// prefetches it started.
int all_gathers_before_the_first_op(int64_t prefetch_bucket_size) {
  TrainSetup s;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  std::vector<profiler::FunctionEvent> events;
  std::map<uint32_t, std::string> threads;
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 3);
    opt.set_prefetch_bucket_size(prefetch_bucket_size);
    auto loss = [&] { return micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank())); };
    opt.backward(loss());  // the first step records the order
    opt.step();
    comm.barrier();
    std::unique_ptr<profiler::profile> prof;
    if (comm.rank() == 0) prof = std::make_unique<profiler::profile>();
    Tensor second = loss();
    if (comm.rank() == 0) {
      prof->stop();
      events = prof->events();
      threads = std::map<uint32_t, std::string>(prof->threads().begin(), prof->threads().end());
    }
    opt.backward(second);
    opt.step();
  });
  int gathers = 0;
  for (const auto& e : events) {
    if (threads.at(e.thread) != "rank 0") continue;
    if (e.kind == profiler::EventKind::Op) break;
    if (e.name == "all_gather") ++gathers;
  }
  return gathers;
}

TEST(ZeroPrefetch, Stage3GathersTheNextModulesAheadOnceTheOrderIsKnown) {
  EXPECT_EQ(all_gathers_before_the_first_op(0), 1);           // fc1's own
  EXPECT_EQ(all_gathers_before_the_first_op(42), 2);          // fc1's, and fc2's (24 elements) ahead
  EXPECT_EQ(all_gathers_before_the_first_op(20), 1);          // fc2's 24 elements don't fit
  EXPECT_EQ(all_gathers_before_the_first_op(50'000'000), 2);  // the default
}

// A forward that stops before a prefetched module leaves that module's parameters held until backward begins,
// the values change or the optimizer goes; then they are released like the others.
TEST(ZeroPrefetch, PrefetchedParametersTheForwardDidNotUseAreReleased) {
  TrainSetup s;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s)};
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    const Tensor x = data.input(s, 0, comm.rank());
    {
      zero::ShardedOptimizer opt(model, make_factory(s), comm, 3);
      opt.backward(micro_batch_loss(s, model, x, data.target(s, 0, comm.rank())));
      opt.step();
      NoGradGuard no_grad;
      model.fc1(x);                // starts the prefetch of fc2, whose forward never comes
      opt.gathered_state_dict();   // waits for it: fc2 is resident, held for its forward
      EXPECT_FALSE(model.fc2->weight.storage()->is_released());
      EXPECT_TRUE(model.fc1->weight.storage()->is_released());
    }
    EXPECT_TRUE(model.fc2->weight.storage()->is_released());
    EXPECT_TRUE(model.fc2->bias.storage()->is_released());
  });
}

TEST(ZeroPrefetch, ANegativePrefetchSizeIsAnError) {
  TrainSetup s;
  auto model = make_model(s);
  zero::run_in_process(1, [&](zero::Communicator& comm) {
    zero::ShardedOptimizer opt(*model, make_factory(s), comm, 3);
    EXPECT_EQ(opt.prefetch_bucket_size(), 50'000'000);
    try {
      opt.set_prefetch_bucket_size(-1);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "ShardedOptimizer.set_prefetch_bucket_size: prefetch_bucket_size must be at least 0 "
                             "elements (0: no prefetch), got -1");
    }
  });
}

// Two layers whose forward order can swap.
class Swappable : public nn::Module {
 public:
  Swappable() : Module("Swappable") {
    a = register_module("a", std::make_shared<nn::Linear>(4, 4));
    b = register_module("b", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) override { return swapped ? a(F::relu(b(x))) : b(F::relu(a(x))); }
  nn::Child<nn::Linear> a, b;
  bool swapped = false;
};

// Per step: the forward order, and the model's consolidated parameters after the step.
std::vector<nn::StateDict> train_swappable(int64_t prefetch_bucket_size, std::vector<std::string>* warnings) {
  const std::vector<bool> swapped{false, false, true, true, false};
  std::vector<std::shared_ptr<Swappable>> models;
  for (int r = 0; r < 2; ++r) {
    manual_seed(3);
    models.push_back(std::make_shared<Swappable>());
  }
  std::mutex mutex;
  WarningHandler previous = set_warning_handler([&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mutex);
    if (warnings) warnings->push_back(m);
  });
  std::vector<nn::StateDict> states;
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    Swappable& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, zero::optimizer_factory<optim::SGD>(optim::SGDOptions(0.1)), comm, 3);
    opt.set_prefetch_bucket_size(prefetch_bucket_size);
    manual_seed(10 + static_cast<uint64_t>(comm.rank()));
    const Tensor x = randn({3, 4});
    for (bool swap : swapped) {
      model.swapped = swap;
      Tensor y = model(x);
      opt.backward((y * y).mean());
      opt.step();
      nn::StateDict state = opt.gathered_state_dict();
      if (comm.rank() == 0) states.push_back(state);
    }
  });
  set_warning_handler(previous);
  return states;
}

TEST(ZeroPrefetch, AForwardThatLeavesTheRecordedOrderWarnsOnceAndChangesNoResult) {
  std::vector<std::string> warnings;
  const std::vector<nn::StateDict> prefetched = train_swappable(50'000'000, &warnings);
  const std::vector<nn::StateDict> plain = train_swappable(0, nullptr);
  ASSERT_EQ(prefetched.size(), plain.size());
  for (size_t step = 0; step < plain.size(); ++step)
    for (size_t i = 0; i < plain[step].size(); ++i)
      EXPECT_TRUE(bytes_of(prefetched[step][i].second) == bytes_of(plain[step][i].second)) << "step " << step;
  // Once per rank: each rank's optimizer warns once.
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0],
            "ShardedOptimizer (stage 3): the forward called module 'b' where the order recorded for prefetching "
            "(prefetch_bucket_size) expected 'a'; the order is recorded again");
}

}  // namespace
}  // namespace zero_test
