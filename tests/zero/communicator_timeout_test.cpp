// No collective waits forever: a rank that does not join makes the collective raise on every rank that is
// waiting, naming the collective and the missing rank, and the late rank raises when it arrives.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using namespace std::chrono_literals;
namespace zero = graft::optim::zero;
using graft::testing::error_of;

namespace {

TEST(CollectiveTimeout, EveryWaitingRankRaisesNamingTheCollectiveAndTheMissingRank) {
  std::vector<std::string> errors(3);
  const auto start = std::chrono::steady_clock::now();
  const std::string first = error_of([&] {
    zero::run_in_process(
        3,
        [&](zero::Communicator& comm) {
          if (comm.rank() == 2) return;  // never joins
          errors[static_cast<size_t>(comm.rank())] = error_of([&] { comm.barrier(); });
        },
        200ms);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(first, "(no error)");  // each rank caught its own error
  for (int r : {0, 1}) {
    const std::string& e = errors[static_cast<size_t>(r)];
    EXPECT_NE(e.find("barrier"), std::string::npos) << e;
    EXPECT_NE(e.find("rank 2"), std::string::npos) << e;
    EXPECT_NE(e.find("timed out after 0.2 s"), std::string::npos) << e;
  }
}

TEST(CollectiveTimeout, TheLateRankRaisesWhenItArrivesAndRunInProcessRethrows) {
  std::mutex mutex;
  std::vector<std::string> errors(2);
  const std::string first = error_of([&] {
    zero::run_in_process(
        2,
        [&](zero::Communicator& comm) {
          Tensor t = ones({4});
          if (comm.rank() == 1) std::this_thread::sleep_for(600ms);  // too late
          try {
            comm.all_reduce(t);
          } catch (const Error& e) {
            std::lock_guard lock(mutex);
            errors[static_cast<size_t>(comm.rank())] = e.what();
            throw;
          }
        },
        100ms);
  });
  EXPECT_NE(first.find("all_reduce: reduce_scatter: timed out after 0.1 s on rank 0 waiting for rank 1"), std::string::npos) << first;
  EXPECT_NE(errors[1].find("all_reduce"), std::string::npos) << errors[1];
  EXPECT_NE(errors[1].find("rank 1, which did not join"), std::string::npos) << errors[1];
}

TEST(CollectiveTimeout, SeveralMissingRanksAreAllNamed) {
  std::string error;
  zero::run_in_process(
      4,
      [&](zero::Communicator& comm) {
        if (comm.rank() != 0) return;
        error = error_of([&] { comm.barrier(); });
      },
      100ms);
  EXPECT_NE(error.find("waiting for ranks 1, 2, 3"), std::string::npos) << error;
}

TEST(CollectiveTimeout, TheTimeoutIsConfigurablePerCommunicator) {
  zero::InProcessGroup group(1);
  zero::Communicator& comm = group.communicator(0);
  EXPECT_EQ(comm.timeout(), zero::Communicator::kDefaultTimeout);
  EXPECT_EQ(comm.timeout(), std::chrono::milliseconds(std::chrono::minutes(30)));
  comm.set_timeout(5s);
  EXPECT_EQ(comm.timeout(), 5s);
  EXPECT_NE(error_of([&] { comm.set_timeout(0ms); }).find("must be positive"), std::string::npos);
  comm.barrier();  // one rank is always complete
}

}  // namespace
