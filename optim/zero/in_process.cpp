#include "graft/optim/zero/in_process.h"

#include <omp.h>

#include <cstring>
#include <exception>
#include <thread>

#include "graft/autograd/profiler.h"
#include "graft/graph/generator.h"

namespace graft::optim::zero {

// ---------------------------------------------------------------- InProcessGroup

InProcessGroup::InProcessGroup(int world_size) : world_size_(world_size) {
  GRAFT_CHECK(world_size >= 1, "InProcessGroup: the world size must be at least 1, got {}", world_size);
  slots_.resize(static_cast<size_t>(world_size));
  present_.assign(static_cast<size_t>(world_size), false);
  for (int r = 0; r < world_size; ++r)
    communicators_.push_back(std::unique_ptr<InProcessCommunicator>(new InProcessCommunicator(*this, r)));
}

InProcessGroup::~InProcessGroup() = default;

InProcessCommunicator& InProcessGroup::communicator(int rank) {
  GRAFT_CHECK(rank >= 0 && rank < world_size_,
              "InProcessGroup: rank {} is out of range for world size {} (ranks are 0 to {})", rank, world_size_,
              world_size_ - 1);
  return *communicators_[static_cast<size_t>(rank)];
}

void InProcessGroup::abort(const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (!aborted_) {
    aborted_ = true;
    abort_reason_ = reason;
  }
  cv_.notify_all();
}

bool InProcessGroup::aborted() const {
  std::lock_guard lock(mutex_);
  return aborted_;
}

void InProcessGroup::wait_all(int rank, const char* op, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  GRAFT_CHECK(!aborted_, "{}: another rank failed ({})", op, abort_reason_);
  const uint64_t generation = generation_;
  present_[static_cast<size_t>(rank)] = true;
  if (++arrived_ == world_size_) {
    arrived_ = 0;
    present_.assign(present_.size(), false);
    ++generation_;
    cv_.notify_all();
    return;
  }
  // The time this rank waits for the others: a "wait" event inside the collective's, on the rank's track.
  profiler::RecordFunction waiting(profiler::EventKind::Collective, "wait");
  if (!cv_.wait_for(lock, timeout, [&] { return generation_ != generation || aborted_; })) {
    std::vector<int> missing;
    for (int r = 0; r < world_size_; ++r)
      if (!present_[static_cast<size_t>(r)]) missing.push_back(r);
    abort_reason_ = fmt::format("{}: timed out after {:.3g} s on rank {} waiting for {}, which did not join", op,
                                std::chrono::duration<double>(timeout).count(), rank, detail::describe_ranks(missing));
    aborted_ = true;
    cv_.notify_all();
    GRAFT_FAIL("{}", abort_reason_);
  }
  GRAFT_CHECK(generation_ != generation, "{}: another rank failed ({})", op, abort_reason_);
}

void InProcessGroup::publish(int rank, Slot slot, std::chrono::milliseconds timeout) {
  const char* op = slot.op;
  slots_[static_cast<size_t>(rank)] = std::move(slot);
  wait_all(rank, op, timeout);
  // Every rank checks every slot, so a mismatch makes all of them fail together (none is left waiting).
  const Slot& first = slots_[0];
  for (int s = 1; s < world_size_; ++s) {
    const Slot& other = slots_[static_cast<size_t>(s)];
    GRAFT_CHECK(std::strcmp(first.op, other.op) == 0,
                "in-process collective: rank 0 called {} while rank {} called {}; every rank must call the same "
                "collectives in the same order",
                first.op, s, other.op);
    GRAFT_CHECK(first.dtype == other.dtype && first.counts == other.counts && first.n == other.n &&
                    first.root == other.root,
                "{}: the ranks disagree on the buffers (rank 0: {} elements of {}, rank {}: {} elements of {}) or the "
                "root",
                first.op, first.n, dtype_name(first.dtype), s, other.n, dtype_name(other.dtype));
  }
}

// ---------------------------------------------------------------- InProcessCommunicator

InProcessCommunicator::InProcessCommunicator(InProcessGroup& group, int rank)
    : Communicator(rank, group.world_size()), group_(group) {}

namespace {
int64_t total_count(const std::vector<int64_t>& counts) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}
}  // namespace

void InProcessCommunicator::do_reduce_scatter(const void* in, void* out, const std::vector<int64_t>& counts,
                                              DType dtype, bool accumulate) {
  const int W = world_size(), r = rank();
  group_.publish(r, {"reduce_scatter", dtype, in, out, counts, total_count(counts), 0}, timeout());
  // This rank sums its chunk over every rank's input, in rank order. Only this rank reads or writes its
  // chunk, so the output may be that chunk of its own input.
  int64_t offset = 0;
  for (int s = 0; s < r; ++s) offset += counts[static_cast<size_t>(s)];
  const size_t esize = element_size(dtype);
  std::vector<const void*> inputs;
  for (int s = 0; s < W; ++s)
    inputs.push_back(static_cast<const char*>(group_.slots_[static_cast<size_t>(s)].in) + offset * static_cast<int64_t>(esize));
  detail::ordered_sum(out, inputs, counts[static_cast<size_t>(r)], dtype, accumulate);
  group_.wait_all(r, "reduce_scatter", timeout());  // nobody reuses its input while another rank may still read it
}

void InProcessCommunicator::do_all_gather(const void* in, void* out, const std::vector<int64_t>& counts, DType dtype) {
  const int W = world_size(), r = rank();
  group_.publish(r, {"all_gather", dtype, in, out, counts, total_count(counts), 0}, timeout());
  const size_t esize = element_size(dtype);
  int64_t offset = 0;
  for (int s = 0; s < W; ++s) {
    const int64_t c = counts[static_cast<size_t>(s)];
    char* dst = static_cast<char*>(out) + offset * static_cast<int64_t>(esize);
    const void* src = group_.slots_[static_cast<size_t>(s)].in;
    if (c > 0 && dst != src) std::memcpy(dst, src, static_cast<size_t>(c) * esize);
    offset += c;
  }
  group_.wait_all(r, "all_gather", timeout());
}

void InProcessCommunicator::do_broadcast(void* buffer, int64_t n, DType dtype, int root) {
  const int r = rank();
  group_.publish(r, {"broadcast", dtype, buffer, buffer, {}, n, root}, timeout());
  const void* src = group_.slots_[static_cast<size_t>(root)].in;
  if (r != root && n > 0) std::memcpy(buffer, src, static_cast<size_t>(n) * element_size(dtype));
  group_.wait_all(r, "broadcast", timeout());
}

void InProcessCommunicator::do_barrier() {
  group_.publish(rank(), {"barrier", kFloat32, nullptr, nullptr, {}, 0, 0}, timeout());
  group_.wait_all(rank(), "barrier", timeout());  // the slots are read until here
}

// ---------------------------------------------------------------- run_in_process

SingleThreadedKernels::SingleThreadedKernels() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
SingleThreadedKernels::~SingleThreadedKernels() { omp_set_num_threads(previous_); }

void run_in_process(int world_size, const std::function<void(Communicator&)>& fn, std::chrono::milliseconds timeout) {
  InProcessGroup group(world_size);
  for (int r = 0; r < world_size; ++r) group.communicator(r).set_timeout(timeout);
  std::mutex failure_mutex;
  std::exception_ptr first_failure;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(world_size));
  const std::string launch_state = default_generator().get_state();
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      SingleThreadedKernels one_thread;
      // Each rank draws from a generator of its own, started where the caller's stood, as each MPI process
      // has its own: ranks seeded alike draw alike, whatever the threads' interleaving.
      ScopedThreadGenerator own_generator(launch_state);
      profiler::set_thread_name(fmt::format("rank {}", r));  // each rank is a track of its own in a trace
      try {
        fn(group.communicator(r));
      } catch (...) {
        std::string what = "unknown exception";
        try {
          throw;
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        {
          std::lock_guard lock(failure_mutex);
          // The first rank to fail is the cause; ranks released by the abort fail after it.
          if (!first_failure) first_failure = std::current_exception();
        }
        group.abort(fmt::format("rank {}: {}", r, what));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (first_failure) std::rethrow_exception(first_failure);
}

}  // namespace graft::optim::zero
