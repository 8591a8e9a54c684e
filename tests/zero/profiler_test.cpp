// The profiler in a ZeRO run: each in-process rank is a thread named after it, and each collective is an event
// on its rank's track carrying the bytes it moved.
#include <gtest/gtest.h>

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

}  // namespace
