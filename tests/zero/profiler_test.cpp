// The profiler in a ZeRO run: each in-process rank is a thread named after it, and each collective is an event
// on its rank's track carrying the bytes it moved.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "graft/graft.h"

using namespace graft;
namespace zero = graft::optim::zero;

namespace {

TEST(ZeroProfiler, EachCollectiveIsAnEventOnItsRanksTrackWithItsBytes) {
  const int world = 2;
  std::vector<zero::Traffic> traffic(world);
  profiler::profile prof;
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    Tensor t = full({10}, static_cast<double>(comm.rank()));
    comm.all_reduce(t);
    comm.barrier();
    traffic[static_cast<size_t>(comm.rank())] = comm.traffic(zero::Collective::AllReduce);
  });
  prof.stop();

  std::map<uint32_t, std::string> thread_names(prof.threads().begin(), prof.threads().end());
  std::set<std::string> ranks_seen;
  for (const auto& e : prof.events()) {
    if (e.name != "all_reduce") continue;
    EXPECT_EQ(e.kind, profiler::EventKind::Collective);
    std::map<std::string, int64_t> args(e.args.begin(), e.args.end());
    const int64_t rank = args.at("rank");
    EXPECT_EQ(thread_names.at(e.thread), fmt::format("rank {}", rank));
    EXPECT_EQ(args.at("bytes_sent"), traffic[static_cast<size_t>(rank)].bytes_sent);
    EXPECT_EQ(args.at("bytes_received"), traffic[static_cast<size_t>(rank)].bytes_received);
    EXPECT_GT(args.at("bytes_sent"), 0);
    ranks_seen.insert(thread_names.at(e.thread));
  }
  EXPECT_EQ(ranks_seen, (std::set<std::string>{"rank 0", "rank 1"}));
  EXPECT_EQ(std::count_if(prof.events().begin(), prof.events().end(), [](const auto& e) { return e.name == "barrier"; }),
            world);
}

// A rank that arrives early at a collective waits for the others: a "wait" event nested in its collective's
// event, as long as the lag; the last rank to arrive does not wait.
TEST(ZeroProfiler, AnEarlyRankRecordsItsWaitInsideTheCollective) {
  profiler::profile prof;
  zero::run_in_process(2, [&](zero::Communicator& comm) {
    if (comm.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Tensor t = ones({4});
    comm.all_reduce(t);
  });
  prof.stop();
  std::map<uint32_t, std::string> thread_names(prof.threads().begin(), prof.threads().end());
  const profiler::FunctionEvent* collective0 = nullptr;
  std::vector<const profiler::FunctionEvent*> waits0;
  for (const auto& e : prof.events()) {
    if (thread_names.at(e.thread) != "rank 0") continue;
    if (e.name == "all_reduce") collective0 = &e;
    if (e.name == "wait") waits0.push_back(&e);
  }
  ASSERT_NE(collective0, nullptr);
  ASSERT_FALSE(waits0.empty());
  double waited_us = 0;
  for (const auto* w : waits0) {
    EXPECT_EQ(w->kind, profiler::EventKind::Collective);
    EXPECT_GE(w->start_us, collective0->start_us);
    EXPECT_LE(w->start_us + w->cpu_time_total_us, collective0->start_us + collective0->cpu_time_total_us);
    waited_us += w->cpu_time_total_us;
  }
  EXPECT_GT(waited_us, 20000.0) << "rank 1 came 30 ms late";
}

}  // namespace
