// ZeRO over MPI equals the in-process simulation bit for bit. Run as `mpirun -np N zero_mpi_tests`: every
// process trains its rank over MPI, then simulates the whole world in-process (N threads) and compares its
// rank's results with what it computed over MPI. Run alone, it is a world of one.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "graft/optim/zero/mpi/mpi_communicator.h"
#include "graft/optim/zero/mpi/mpi_trace.h"
#include "zero/harness.h"

namespace zero_test {
namespace {

zero::MpiCommunicator& world() {
  static zero::MpiCommunicator comm;
  return comm;
}

// Rank r's values, chosen so that the summation order shows in float32.
Tensor values(int rank, int64_t n) {
  Tensor t = empty({n}, kFloat32);
  for (int64_t i = 0; i < n; ++i)
    t.data_ptr<float>()[i] = static_cast<float>((rank % 2 ? -1e7 : 1e7) * (1 + i % 5) + rank * 0.37 + i * 0.01);
  return t;
}

struct Results {
  std::vector<Tensor> tensors;
  zero::TrafficByCollective traffic;
};

// A little of every collective, on any communicator.
Results collectives(zero::Communicator& comm) {
  const int W = comm.world_size(), r = comm.rank();
  Results out;
  Tensor a = values(r, 23);
  comm.all_reduce(a);
  out.tensors.push_back(a);
  Tensor in = values(r + 10, 6 * W), chunk = values(r + 20, 6);
  comm.reduce_scatter(in, chunk, /*accumulate=*/true);
  out.tensors.push_back(chunk);
  Tensor in_place = values(r + 30, 5 * W);
  comm.reduce_scatter(in_place, in_place.narrow(0, 5 * r, 5));
  out.tensors.push_back(in_place.narrow(0, 5 * r, 5).clone());
  std::vector<int64_t> counts;
  for (int s = 0; s < W; ++s) counts.push_back((s * 7) % 4);
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  Tensor gathered = zeros({total}, kFloat64);
  comm.all_gather(values(r, counts[static_cast<size_t>(r)]).to(kFloat64), gathered, counts);
  out.tensors.push_back(gathered);
  Tensor all = zeros({4 * W});
  all.narrow(0, 4 * r, 4).copy_(values(r + 40, 4));
  comm.all_gather(all.narrow(0, 4 * r, 4), all);
  out.tensors.push_back(all);
  Tensor b = values(r + 50, 9);
  comm.broadcast(b, W - 1);
  out.tensors.push_back(b);
  // Non-blocking: two in flight at once, waited for in the other order, one uneven and accumulating.
  std::vector<int64_t> uneven;
  for (int s = 0; s < W; ++s) uneven.push_back((s * 5 + 2) % 4);
  int64_t uneven_total = 0;
  for (int64_t c : uneven) uneven_total += c;
  Tensor scattered = values(r + 60, uneven_total), mine = values(r + 70, uneven[static_cast<size_t>(r)]);
  Tensor summed = values(r + 80, 17);
  auto first = comm.reduce_scatter_async(scattered, mine, uneven, /*accumulate=*/true);
  auto second = comm.all_reduce_async(summed, summed);
  while (!second->is_completed()) {
  }
  second->wait();
  first->wait();
  out.tensors.push_back(mine);
  out.tensors.push_back(summed);
  comm.barrier();
  out.traffic = comm.traffic();
  return out;
}

void expect_same(const Results& mpi, const Results& simulated) {
  ASSERT_EQ(mpi.tensors.size(), simulated.tensors.size());
  for (size_t k = 0; k < mpi.tensors.size(); ++k)
    EXPECT_TRUE(bytes_of(mpi.tensors[k]) == bytes_of(simulated.tensors[k]))
        << "collective " << k << "\nmpi: " << mpi.tensors[k] << "\nin-process: " << simulated.tensors[k];
  for (size_t c = 0; c < zero::kNumCollectives; ++c)
    EXPECT_EQ(mpi.traffic[c], simulated.traffic[c]) << zero::collective_name(static_cast<zero::Collective>(c));
}

Results simulate_collectives(int W, int rank) {
  Results mine;
  zero::run_in_process(W, [&](zero::Communicator& comm) {
    Results r = collectives(comm);
    if (comm.rank() == rank) mine = r;
  });
  return mine;
}

TEST(ZeroMpi, CollectivesEqualTheInProcessBackEnd) {
  zero::MpiCommunicator comm;
  EXPECT_STREQ(comm.backend(), "mpi");
  expect_same(collectives(comm), simulate_collectives(comm.world_size(), comm.rank()));
}

TEST(ZeroMpi, MessagesLongerThanTheLimitGoInPieces) {
  zero::MpiCommunicator comm;
  comm.set_max_message(3);
  expect_same(collectives(comm), simulate_collectives(comm.world_size(), comm.rank()));
  EXPECT_THROW(comm.set_max_message(0), Error);
}

void expect_same_rank_trace(const RankTrace& mpi, const RankTrace& simulated, const std::string& context) {
  ASSERT_EQ(mpi.losses.size(), simulated.losses.size()) << context;
  for (size_t step = 0; step < mpi.losses.size(); ++step) {
    ASSERT_EQ(mpi.losses[step].size(), simulated.losses[step].size()) << context;
    for (size_t k = 0; k < mpi.losses[step].size(); ++k)
      EXPECT_EQ(std::memcmp(&mpi.losses[step][k].second, &simulated.losses[step][k].second, sizeof(double)), 0)
          << context << ", step " << step;
    expect_identical(mpi.shards[step], simulated.shards[step], context + ", step " + std::to_string(step));
  }
  EXPECT_EQ(mpi.scales, simulated.scales) << context;
  EXPECT_EQ(mpi.skipped, simulated.skipped) << context;
  ASSERT_EQ(mpi.norms.size(), simulated.norms.size()) << context;
  for (size_t step = 0; step < mpi.norms.size(); ++step)
    EXPECT_EQ(std::memcmp(&mpi.norms[step], &simulated.norms[step], sizeof(double)), 0) << context;
}

TEST(ZeroMpi, TrainingEqualsTheInProcessSimulationBitForBit) {
  zero::MpiCommunicator& comm = world();
  const int W = comm.world_size(), rank = comm.rank();
  TrainSetup s;
  s.micro_batches = 6 * W;
  s.two_groups = true;
  s.frozen = true;
  s.clip = 0.05;
  const Data data = make_data(s);
  struct Config {
    const char* optimizer;
    DType dtype;
    double loss_scale;
    int64_t reduce_bucket_size = 0;  // 0: one bucket per group and dtype
  };
  // float32, and mixed precision in bfloat16 and in float16 with loss scaling (skipped steps included); with
  // small reduce buckets, the reductions overlap backward through nonblocking MPI.
  for (const Config& config : {Config{"momentum", kFloat32, 0}, Config{"adamw", kFloat32, 0},
                               Config{"adamw", kBFloat16, 0}, Config{"adam", kFloat16, 1 << 16},
                               Config{"adamw", kFloat32, 0, 1}, Config{"adam", kFloat16, 1 << 16, 20}}) {
    s.optimizer = config.optimizer;
    s.dtype = config.dtype;
    s.loss_scale = config.loss_scale;
    s.reduce_bucket_size = config.reduce_bucket_size;
    for (int stage = 0; stage <= 3; ++stage) {
      const std::string context = fmt::format("{} {}, reduce_bucket_size {}, stage {}, rank {} of {}", config.optimizer,
                                              dtype_name(config.dtype), config.reduce_bucket_size, stage, rank, W);
      auto model = make_model(s);
      const zero::TrafficByCollective before = comm.traffic();
      const RankTrace mpi = run_rank(s, data, *model, comm, stage);
      const zero::TrafficByCollective mpi_traffic = comm.traffic() - before;
      RankTrace simulated;
      zero::TrafficByCollective simulated_traffic;
      std::vector<std::shared_ptr<Mlp>> models;
      for (int r = 0; r < W; ++r) models.push_back(make_model(s));
      zero::run_in_process(W, [&](zero::Communicator& c) {
        RankTrace t = run_rank(s, data, *models[static_cast<size_t>(c.rank())], c, stage);
        if (c.rank() == rank) {
          simulated = t;
          simulated_traffic = c.traffic();
        }
      });
      expect_same_rank_trace(mpi, simulated, context);
      for (size_t c = 0; c < zero::kNumCollectives; ++c) EXPECT_EQ(mpi_traffic[c], simulated_traffic[c]) << context;
    }
  }
}

// Every rank's profile in one file: a process track per rank, collectives with their bytes, and times on one
// clock. The last rank starts its profile 50 ms late and comes 20 ms late to each barrier; lined up, each
// barrier's events overlap on every rank (without the alignment they would miss each other by 50 ms).
TEST(ZeroMpi, OneChromeTraceForTheJobWithATrackPerRankLinedUpInTime) {
  zero::MpiCommunicator& comm = world();
  const int W = comm.world_size(), last = W - 1;
  const std::string path = ::testing::TempDir() + "graft_zero_mpi_trace.json";
  comm.barrier();
  if (comm.rank() == last) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  profiler::profile prof;
  for (int k = 0; k < 3; ++k) {
    if (comm.rank() == last) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    comm.barrier();
    Tensor t = ones({8});
    comm.all_reduce(t);
  }
  prof.stop();
  zero::export_chrome_trace(prof, comm, path);
  comm.barrier();  // the file is written
  if (comm.rank() != 0) return;
  std::ifstream in(path);
  const nlohmann::json trace = nlohmann::json::parse(in);
  std::map<int, std::string> names;
  std::map<int, std::vector<std::pair<double, double>>> barriers;  // per rank: (start, end)
  std::map<int, int64_t> bytes;
  for (const auto& e : trace["traceEvents"]) {
    const int pid = e["pid"].get<int>();
    if (e["ph"] == "M" && e["name"] == "process_name") names[pid] = e["args"]["name"].get<std::string>();
    if (e["ph"] != "X") continue;
    if (e["name"] == "barrier") {
      const double ts = e["ts"].get<double>();
      barriers[pid].emplace_back(ts, ts + e["dur"].get<double>());
    }
    if (e["name"] == "all_reduce") bytes[pid] += e["args"]["bytes_sent"].get<int64_t>();
  }
  for (int r = 0; r < W; ++r) {
    EXPECT_EQ(names[r], fmt::format("rank {}", r));
    ASSERT_EQ(barriers[r].size(), 3u) << "rank " << r;
    if (W > 1) {
      EXPECT_GT(bytes[r], 0) << "rank " << r;
    }
  }
  const double slack_us = 2000;
  for (size_t k = 0; k < 3; ++k)
    for (int r = 1; r < W; ++r) {
      const auto [a0, a1] = barriers[0][k];
      const auto [b0, b1] = barriers[r][k];
      EXPECT_LT(a0, b1 + slack_us) << "barrier " << k << ", rank " << r;
      EXPECT_LT(b0, a1 + slack_us) << "barrier " << k << ", rank " << r;
    }
  std::filesystem::remove(path);
}

TEST(ZeroMpi, ShardsWrittenByMpiRanksConsolidateToSingleProcessTraining) {
  zero::MpiCommunicator& comm = world();
  TrainSetup s;
  s.micro_batches = 2 * comm.world_size();
  s.steps = 2;
  s.optimizer = "amsgrad";
  const Data data = make_data(s);
  // Every rank uses rank 0's directory name.
  Tensor id = full({1}, static_cast<double>(getpid()), kFloat64);
  comm.broadcast(id, 0);
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("graft_zero_mpi_{}", id.item<int64_t>())).string();
  auto model = make_model(s);
  {
    zero::ShardedOptimizer opt(*model, make_groups(s, *model), make_factory(s), comm, 3);
    for (int step = 0; step < s.steps; ++step) {
      for (int j = comm.rank(); j < s.micro_batches; j += comm.world_size())
        opt.backward(micro_batch_loss(s, *model, data.input(s, step, j), data.target(s, step, j)));
      opt.step();
    }
    opt.save(dir);
  }
  if (comm.rank() == 0) {
    const Trace plain = run_plain(s);
    expect_identical(zero::consolidate_shards(zero::read_shards(dir)), plain.states.back(), "consolidated");
    std::filesystem::remove_all(dir);
  }
  comm.barrier();
}

}  // namespace
}  // namespace zero_test

namespace {

// `zero_mpi_tests --stopped-rank`: the last rank stops (as under SIGSTOP, or a hung rank) before a barrier the
// others enter with a one-second timeout. Each of them must report the timeout naming the barrier and the
// stopped rank, and the job must end (MpiEnvironment aborts it) instead of spinning forever.
int stopped_rank_scenario() {
  graft::optim::zero::MpiCommunicator comm;
  comm.set_timeout(std::chrono::seconds(1));
  comm.barrier();  // everyone is here once
  if (comm.rank() == comm.world_size() - 1) ::raise(SIGSTOP);
  try {
    comm.barrier();
    std::printf("rank %d: the barrier completed without the stopped rank\n", comm.rank());
  } catch (const graft::Error& e) {
    std::printf("rank %d caught: %s\n", comm.rank(), e.what());
  }
  std::fflush(stdout);
  // Both live ranks print before either aborts the job.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  graft::optim::zero::MpiEnvironment mpi(&argc, &argv);
  if (argc > 1 && std::string(argv[1]) == "--stopped-rank") return stopped_rank_scenario();
  // Kernels on one thread, as on an in-process rank, so that both compute alike.
  graft::optim::zero::SingleThreadedKernels one_thread;
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    // Rank 0 prints the progress; the others only their failures.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  // The run fails when any rank failed.
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any && !failed) std::fprintf(stderr, "zero_mpi_tests: another rank failed\n");
  return any;
}
