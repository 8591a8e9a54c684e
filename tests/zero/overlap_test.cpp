// Reduce buckets and overlap_comm: gradients are reduced in buckets of consecutive parameters, formed from the
// last parameter backwards, and each bucket's reduction starts as soon as backward has accumulated its
// gradients. (That the results stay bit for bit those of single-process training, at every stage and world
// size, is in equivalence_test.cpp.)
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

}  // namespace
}  // namespace zero_test
