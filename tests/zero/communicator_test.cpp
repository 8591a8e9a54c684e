// The in-process Communicator: rank-ordered sums, in-place forms, traffic under the ring model, and misuse.
#include <gtest/gtest.h>

#include <atomic>

#include "graft/graft.h"

using namespace graft;
namespace zero = graft::optim::zero;

namespace {

// Rank r's buffer: values that make the summation order visible in float32 (1e8 + 1 - 1e8 != 1).
Tensor rank_values(int rank, int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    const double v = (rank == 0 ? 1e8 : rank == 1 ? 1.0 : -1e8) * (1 + static_cast<double>(i % 3)) + rank * 0.25 + i;
    if (dtype == kFloat32) t.data_ptr<float>()[i] = static_cast<float>(v);
    else t.data_ptr<double>()[i] = v;
  }
  return t;
}

// What the sum in rank order gives, element by element.
template <class T>
T ordered(int world, int64_t i, int64_t n, DType dtype) {
  T acc = 0;
  for (int r = 0; r < world; ++r) {
    const T v = rank_values(r, n, dtype).template data_ptr<T>()[i];
    acc = r == 0 ? v : acc + v;
  }
  return acc;
}

// Ranks are threads, but each draws from a generator of its own, as MPI processes do: every rank draws what
// the caller's generator would have drawn next, whatever the interleaving, and the caller's generator stays.
TEST(InProcessCommunicator, EachRankDrawsFromAGeneratorOfItsOwnStartedAtTheCallers) {
  manual_seed(4);
  const Tensor first = randn({8}), second = randn({8});
  manual_seed(4);
  const std::string caller_state = default_generator().get_state();
  constexpr int kWorld = 3;
  std::vector<Tensor> firsts(kWorld), seconds(kWorld), reseeded(kWorld);
  zero::run_in_process(kWorld, [&](zero::Communicator& comm) {
    const auto r = static_cast<size_t>(comm.rank());
    firsts[r] = randn({8});
    comm.barrier();  // every rank has drawn once before any draws again
    seconds[r] = randn({8});
    manual_seed(100 + r);  // reseeds this rank's generator only
    comm.barrier();
    reseeded[r] = randn({8});
  });
  EXPECT_EQ(default_generator().get_state(), caller_state) << "the caller's generator moved";
  for (size_t r = 0; r < kWorld; ++r) {
    EXPECT_TRUE(equal(firsts[r], first)) << "rank " << r;
    EXPECT_TRUE(equal(seconds[r], second)) << "rank " << r;
    manual_seed(100 + r);
    EXPECT_TRUE(equal(reseeded[r], randn({8}))) << "rank " << r;
  }
}

TEST(InProcessCommunicator, AllReduceSumsInRankOrderOnEveryRank) {
  for (int world : {1, 2, 3, 4}) {
    const int64_t n = 11;  // not divisible by the world size
    std::vector<std::vector<float>> results(static_cast<size_t>(world));
    zero::run_in_process(world, [&](zero::Communicator& comm) {
      Tensor t = rank_values(comm.rank(), n, kFloat32);
      comm.all_reduce(t);
      results[static_cast<size_t>(comm.rank())] = t.to_vector<float>();
    });
    for (int r = 0; r < world; ++r)
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(results[static_cast<size_t>(r)][static_cast<size_t>(i)], (ordered<float>(world, i, n, kFloat32)))
            << "W=" << world << " rank " << r << " element " << i;
  }
}

TEST(InProcessCommunicator, ReduceScatterGivesEachRankItsChunkAndCanAccumulate) {
  const int world = 3;
  const int64_t c = 5;
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    const int r = comm.rank();
    Tensor in = rank_values(r, c * world, kFloat64);
    Tensor out = full({c}, 0.5, kFloat64);
    comm.reduce_scatter(in, out, /*accumulate=*/true);
    for (int64_t i = 0; i < c; ++i) {
      double expect = 0.5;
      for (int s = 0; s < world; ++s) expect = expect + rank_values(s, c * world, kFloat64).data_ptr<double>()[r * c + i];
      EXPECT_EQ(out.data_ptr<double>()[i], expect);
    }
    // In place: the output is this rank's chunk of the input.
    Tensor buffer = rank_values(r, c * world, kFloat64);
    Tensor chunk = buffer.narrow(0, r * c, c);
    comm.reduce_scatter(buffer, chunk);
    for (int64_t i = 0; i < c; ++i) EXPECT_EQ(chunk.data_ptr<double>()[i], (ordered<double>(world, r * c + i, c * world, kFloat64)));
  });
}

TEST(InProcessCommunicator, AllGatherInPlaceAndWithUnevenCounts) {
  const int world = 4;
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    const int r = comm.rank();
    Tensor out = zeros({8}, kFloat32);
    out.narrow(0, 2 * r, 2).fill_(static_cast<double>(r + 1));
    comm.all_gather(out.narrow(0, 2 * r, 2), out);
    EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
    const std::vector<int64_t> counts{3, 0, 1, 2};
    Tensor mine = full({counts[static_cast<size_t>(r)]}, static_cast<double>(10 * r), kFloat32);
    Tensor all = zeros({6}, kFloat32);
    comm.all_gather(mine, all, counts);
    EXPECT_EQ(all.to_vector<float>(), (std::vector<float>{0, 0, 0, 20, 30, 30}));
  });
}

TEST(InProcessCommunicator, BalancedCountsGiveTheFirstRanksTheRemainder) {
  zero::run_in_process(4, [&](zero::Communicator& comm) {
    EXPECT_EQ(comm.balanced_counts(10), (std::vector<int64_t>{3, 3, 2, 2}));
    EXPECT_EQ(comm.balanced_counts(8), (std::vector<int64_t>{2, 2, 2, 2}));
    EXPECT_EQ(comm.balanced_counts(3), (std::vector<int64_t>{1, 1, 1, 0}));
    EXPECT_EQ(comm.balanced_counts(0), (std::vector<int64_t>{0, 0, 0, 0}));
  });
}

TEST(InProcessCommunicator, BroadcastCopiesTheRoot) {
  zero::run_in_process(3, [&](zero::Communicator& comm) {
    Tensor t = full({4}, static_cast<double>(comm.rank()), kFloat64);
    comm.broadcast(t, 2);
    EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{2, 2, 2, 2}));
    comm.barrier();
  });
}

TEST(InProcessCommunicator, CountsTrafficUnderTheRingModel) {
  const int world = 4;
  const int64_t n = 400;
  std::vector<zero::TrafficByCollective> traffic(world);
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    Tensor buffer = zeros({n}, kFloat32);
    comm.all_reduce(buffer);
    comm.reduce_scatter(buffer, zeros({n / world}, kFloat32));
    comm.all_gather(zeros({n / world}, kFloat32), buffer);
    comm.broadcast(zeros({10}, kFloat64), 1);
    comm.barrier();
    traffic[static_cast<size_t>(comm.rank())] = comm.traffic();
  });
  for (int r = 0; r < world; ++r) {
    const auto& t = traffic[static_cast<size_t>(r)];
    using zero::Collective;
    const auto& ar = t[static_cast<size_t>(Collective::AllReduce)];
    EXPECT_EQ(ar.calls, 1);
    EXPECT_EQ(ar.elements_sent, 2 * (world - 1) * n / world);  // 600
    EXPECT_EQ(ar.elements_received, 600);
    EXPECT_EQ(ar.bytes_sent, 2400);
    const auto& rs = t[static_cast<size_t>(Collective::ReduceScatter)];
    EXPECT_EQ(rs.elements_sent, 300);
    EXPECT_EQ(rs.elements_received, 300);
    const auto& ag = t[static_cast<size_t>(Collective::AllGather)];
    EXPECT_EQ(ag.elements_sent, 300);
    EXPECT_EQ(ag.elements_received, 300);
    const auto& bc = t[static_cast<size_t>(Collective::Broadcast)];
    EXPECT_EQ(bc.elements_received, r == 1 ? 0 : 10);  // the root receives nothing
    EXPECT_EQ(bc.elements_sent, r == 0 ? 0 : 10);      // the root's predecessor ends the ring
    EXPECT_EQ(bc.bytes_sent, r == 0 ? 0 : 80);
    EXPECT_EQ(t[static_cast<size_t>(Collective::Barrier)].calls, 1);
    EXPECT_EQ(zero::total(t).calls, 5);
  }
}

TEST(InProcessCommunicator, UnevenAllGatherCountsEachRankByTheChunksItMoves) {
  const std::vector<int64_t> counts{3, 0, 1, 2};
  std::vector<zero::Traffic> traffic(4);
  zero::run_in_process(4, [&](zero::Communicator& comm) {
    comm.all_gather(zeros({counts[static_cast<size_t>(comm.rank())]}), zeros({6}), counts);
    traffic[static_cast<size_t>(comm.rank())] = comm.traffic(zero::Collective::AllGather);
  });
  int64_t sent = 0, received = 0;
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(traffic[static_cast<size_t>(r)].elements_received, 6 - counts[static_cast<size_t>(r)]);
    EXPECT_EQ(traffic[static_cast<size_t>(r)].elements_sent, 6 - counts[static_cast<size_t>((r + 1) % 4)]);
    sent += traffic[static_cast<size_t>(r)].elements_sent;
    received += traffic[static_cast<size_t>(r)].elements_received;
  }
  EXPECT_EQ(sent, 3 * 6);  // (W - 1) * n in total, as for equal chunks
  EXPECT_EQ(received, 3 * 6);
}

TEST(InProcessCommunicator, UnevenReduceScatterSumsEachRanksChunkInRankOrderAndCountsTheRing) {
  const std::vector<int64_t> counts{3, 0, 1, 2};
  const int64_t n = 6;
  std::vector<zero::Traffic> traffic(4);
  zero::run_in_process(4, [&](zero::Communicator& comm) {
    const int r = comm.rank();
    const int64_t begin = r == 0 ? 0 : r == 1 ? 3 : r == 2 ? 3 : 4;
    Tensor in = rank_values(r, n, kFloat32);
    Tensor out = zeros({counts[static_cast<size_t>(r)]}, kFloat32);
    comm.reduce_scatter(in, out, counts);
    for (int64_t i = 0; i < out.numel(); ++i) EXPECT_EQ(out.data_ptr<float>()[i], (ordered<float>(4, begin + i, n, kFloat32)));
    // In place, accumulating onto this rank's chunk.
    Tensor buffer = rank_values(r, n, kFloat32);
    Tensor chunk = buffer.narrow(0, begin, counts[static_cast<size_t>(r)]);
    Tensor before = graft::clone(chunk);
    comm.reduce_scatter(buffer, chunk, counts, /*accumulate=*/true);
    for (int64_t i = 0; i < chunk.numel(); ++i) {
      float expect = before.data_ptr<float>()[i];
      for (int s = 0; s < 4; ++s) expect = expect + rank_values(s, n, kFloat32).data_ptr<float>()[begin + i];
      EXPECT_EQ(chunk.data_ptr<float>()[i], expect);
    }
    traffic[static_cast<size_t>(r)] = comm.traffic(zero::Collective::ReduceScatter);
  });
  for (int r = 0; r < 4; ++r) {
    // Rank r passes on every chunk but its own and receives every chunk but its predecessor's.
    EXPECT_EQ(traffic[static_cast<size_t>(r)].elements_sent, 2 * (n - counts[static_cast<size_t>(r)]));
    EXPECT_EQ(traffic[static_cast<size_t>(r)].elements_received, 2 * (n - counts[static_cast<size_t>((r + 3) % 4)]));
  }
}

TEST(InProcessCommunicator, AsyncCollectivesGiveTheBlockingResultsOnceWaitedFor) {
  const int world = 3;
  const int64_t n = 11;
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    const int r = comm.rank();
    Tensor all = rank_values(r, n, kFloat32), blocking = rank_values(r, n, kFloat32);
    std::unique_ptr<zero::Work> work = comm.all_reduce_async(all, all);
    work->wait();
    work->wait();  // a second wait returns at once
    EXPECT_TRUE(work->is_completed());
    comm.all_reduce(blocking);
    EXPECT_TRUE(equal(all, blocking));

    const std::vector<int64_t> counts{4, 4, 3};
    Tensor in = rank_values(r, n, kFloat32);
    Tensor out = full({counts[static_cast<size_t>(r)]}, 0.25, kFloat32), expect = graft::clone(out);
    comm.reduce_scatter_async(in, out, counts, /*accumulate=*/true)->wait();
    comm.reduce_scatter(in, expect, counts, /*accumulate=*/true);
    EXPECT_TRUE(equal(out, expect));
    // Several in flight at once, waited for in another order than they started.
    Tensor a = rank_values(r, n, kFloat64), b = rank_values(r, 2 * n, kFloat64);
    auto first = comm.all_reduce_async(a, a);
    auto second = comm.all_reduce_async(b, b);
    second->wait();
    first->wait();
    Tensor a2 = rank_values(r, n, kFloat64), b2 = rank_values(r, 2 * n, kFloat64);
    comm.all_reduce(a2);
    comm.all_reduce(b2);
    EXPECT_TRUE(equal(a, a2));
    EXPECT_TRUE(equal(b, b2));
  });
}

TEST(InProcessCommunicator, MisuseRaisesClearErrors) {
  EXPECT_THROW(zero::InProcessGroup(0), Error);
  EXPECT_THROW(zero::run_in_process(0, [](zero::Communicator&) {}), Error);
  zero::InProcessGroup group(2);
  try {
    group.communicator(2);
    ADD_FAILURE() << "rank 2 of 2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2 is out of range for world size 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(group.communicator(-1), Error);
  // Bad buffers fail on the calling rank before any communication.
  zero::run_in_process(2, [](zero::Communicator& comm) {
    EXPECT_THROW(comm.all_reduce(zeros({3}, kInt64)), Error);
    EXPECT_THROW(comm.reduce_scatter(zeros({5}), zeros({2})), Error);
    EXPECT_THROW(comm.all_gather(zeros({2}), zeros({5})), Error);
    EXPECT_THROW(comm.all_gather(zeros({2}), zeros({4}), {2}), Error);
    EXPECT_THROW(comm.broadcast(zeros({2}), 2), Error);
    Tensor buffer = zeros({4});
    EXPECT_THROW(comm.reduce_scatter(buffer, buffer.narrow(0, 1, 2)), Error);  // overlaps, but not as a chunk
    EXPECT_THROW(comm.all_reduce(zeros({4}, kFloat64), zeros({4}, kFloat32), false), Error);
    EXPECT_THROW(comm.reduce_scatter(zeros({5}), zeros({2}), {2, 2}), Error);           // 4 != 5 elements
    EXPECT_THROW(comm.reduce_scatter(zeros({4}), zeros({2}), {2, 1, 1}), Error);        // 3 counts for 2 ranks
    EXPECT_THROW(comm.reduce_scatter_async(zeros({4}), zeros({2}), {5, -1}), Error);    // negative count
    EXPECT_THROW(comm.all_reduce_async(zeros({4}), zeros({3})), Error);
    try {
      comm.reduce_scatter_async(zeros({4}), zeros({2}), {1, 2});
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "reduce_scatter_async: the counts add up to 3 elements but the input has 4");
    }
  });
}

TEST(InProcessCommunicator, RanksThatDisagreeFailTogetherInsteadOfHanging) {
  try {
    zero::run_in_process(3, [](zero::Communicator& comm) {
      if (comm.rank() == 1) comm.all_reduce(zeros({4}));
      else comm.all_reduce(zeros({5}));
    });
    ADD_FAILURE() << "mismatched sizes were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("disagree"), std::string::npos) << e.what();
  }
  try {
    zero::run_in_process(2, [](zero::Communicator& comm) {
      if (comm.rank() == 0) comm.barrier();
      else comm.broadcast(zeros({1}), 0);
    });
    ADD_FAILURE() << "different collectives were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("every rank must call the same collectives"), std::string::npos) << e.what();
  }
}

TEST(InProcessCommunicator, AFailingRankReleasesTheOthersAndItsErrorIsRethrown) {
  std::atomic<int> released{0};
  try {
    zero::run_in_process(4, [&](zero::Communicator& comm) {
      if (comm.rank() == 2) GRAFT_FAIL("rank two gives up");
      try {
        comm.barrier();
      } catch (const Error&) {
        ++released;
        throw;
      }
    });
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank two gives up");
  }
  EXPECT_EQ(released.load(), 3);
}

}  // namespace
