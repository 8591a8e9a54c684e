// Communication per step, counted under the ring model: stages 1 and 2 move as much as plain data
// parallelism (2 Psi), stage 3 one and a half times that.
#include "zero/harness.h"

namespace zero_test {
namespace {

using zero::Collective;

// Per rank, the traffic of one training step (after construction), with `per_rank` micro-batches per rank.
std::vector<zero::TrafficByCollective> step_traffic(int world, int stage, int per_rank, int64_t* psi) {
  TrainSetup s;
  s.in = s.hidden = s.out = 32;  // 2112 parameters, no padding for 1 to 4 ranks
  s.micro_batches = world * per_rank;
  s.steps = 1;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < world; ++r) models.push_back(make_model(s));
  std::vector<zero::TrafficByCollective> out(static_cast<size_t>(world));
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
    EXPECT_EQ(opt.num_padded_parameters(), opt.num_parameters());
    if (comm.rank() == 0) *psi = opt.num_parameters();  // one writer: the ranks are threads
    const zero::TrafficByCollective before = comm.traffic();
    for (int j = comm.rank(); j < s.micro_batches; j += world)
      opt.backward(micro_batch_loss(s, model, data.input(s, 0, j), data.target(s, 0, j)));
    opt.step();
    out[static_cast<size_t>(comm.rank())] = comm.traffic() - before;
  });
  return out;
}

int64_t sent(const zero::TrafficByCollective& t, Collective c) { return t[static_cast<size_t>(c)].elements_sent; }
int64_t calls(const zero::TrafficByCollective& t, Collective c) { return t[static_cast<size_t>(c)].calls; }

TEST(ZeroCommunication, Stages1And2MoveWhatDataParallelismMovesAndStage3HalfAsMuchMore) {
  for (int world : {2, 3, 4}) {
    int64_t psi = 0;
    std::array<int64_t, 4> totals{};
    for (int stage = 0; stage <= 3; ++stage) {
      const auto traffic = step_traffic(world, stage, 1, &psi);
      for (int r = 0; r < world; ++r) {
        const auto& t = traffic[static_cast<size_t>(r)];
        const std::string at = fmt::format("W={} stage {} rank {}", world, stage, r);
        const int64_t ring = (world - 1) * psi / world;  // one reduce-scatter or all-gather of Psi
        totals[static_cast<size_t>(stage)] += zero::total(t).elements_sent;
        EXPECT_EQ(zero::total(t).elements_sent, zero::total(t).elements_received) << at;
        EXPECT_EQ(zero::total(t).bytes_sent, 4 * zero::total(t).elements_sent) << at;
        if (stage == 0) {
          EXPECT_EQ(calls(t, Collective::AllReduce), 1) << at;
          EXPECT_EQ(sent(t, Collective::AllReduce), 2 * ring) << at;
          EXPECT_EQ(zero::total(t).calls, 1) << at;
        } else if (stage <= 2) {
          EXPECT_EQ(calls(t, Collective::ReduceScatter), 1) << at;
          EXPECT_EQ(sent(t, Collective::ReduceScatter), ring) << at;
          EXPECT_EQ(calls(t, Collective::AllGather), 1) << at;
          EXPECT_EQ(sent(t, Collective::AllGather), ring) << at;
          EXPECT_EQ(zero::total(t).calls, 2) << at;
        } else {
          EXPECT_EQ(calls(t, Collective::ReduceScatter), 1) << at;
          EXPECT_EQ(sent(t, Collective::ReduceScatter), ring) << at;
          EXPECT_EQ(calls(t, Collective::AllGather), 4) << at;  // two modules, forward and backward
        }
      }
    }
    EXPECT_EQ(totals[0], 2 * (world - 1) * psi) << "W=" << world;  // 2 Psi (W - 1) / W per rank
    EXPECT_EQ(totals[1], totals[0]) << "W=" << world;
    EXPECT_EQ(totals[2], totals[0]) << "W=" << world;
    EXPECT_EQ(2 * totals[3], 3 * totals[0]) << "W=" << world;  // 1.5x
  }
}

TEST(ZeroCommunication, EveryMicroBatchIsReducedOnce) {
  const int world = 2, per_rank = 3;
  int64_t psi = 0;
  const int64_t ring = (world - 1) * 2112 / world;
  for (int stage = 0; stage <= 3; ++stage) {
    const auto t = step_traffic(world, stage, per_rank, &psi)[0];
    if (stage == 0) {
      EXPECT_EQ(calls(t, Collective::AllReduce), per_rank);
      EXPECT_EQ(sent(t, Collective::AllReduce), per_rank * 2 * ring);
    } else {
      EXPECT_EQ(calls(t, Collective::ReduceScatter), per_rank) << "stage " << stage;
      EXPECT_EQ(sent(t, Collective::ReduceScatter), per_rank * ring) << "stage " << stage;
      EXPECT_EQ(calls(t, Collective::AllGather), stage == 3 ? 4 * per_rank : 1) << "stage " << stage;
    }
  }
}

TEST(ZeroCommunication, ClippingAtStages1To3PassesTheNormsFromRankToRank) {
  TrainSetup s;
  s.micro_batches = 3;
  s.steps = 1;
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models{make_model(s), make_model(s), make_model(s)};
  zero::run_in_process(3, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, 2);
    opt.backward(micro_batch_loss(s, model, data.input(s, 0, comm.rank()), data.target(s, 0, comm.rank())));
    const auto before = comm.traffic();
    opt.clip_grad_norm_(1.0);
    const auto t = comm.traffic() - before;
    EXPECT_EQ(calls(t, Collective::Broadcast), 3);  // one turn per rank
    EXPECT_EQ(zero::total(t).calls, 3);
  });
}

}  // namespace
}  // namespace zero_test
