#include "graft/graph/threads.h"

#include <fcntl.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "graft/graph/error.h"

namespace graft {

namespace {

std::atomic<bool>& adaptive_flag() {
  static std::atomic<bool> on = [] {
    const char* env = std::getenv("GRAFT_ADAPTIVE_THREADS");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return on;
}

int allowed_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, omp_get_num_procs());
}

// Reads a small /proc file from offset 0 into buf (NUL-terminated); false if it cannot be read.
bool read_proc(int fd, char (&buf)[128]) {
  if (fd < 0) return false;
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

// The per-thread sampler: the calling thread's schedstat (its own run-queue wait) and the machine's runnable
// count, turned into one observation per window.
class Sampler {
 public:
  static constexpr std::chrono::milliseconds kWindow{10};

  Sampler() { open_files(); }
  ~Sampler() { close_files(); }

  int threads(int requested) {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ < kWindow) return governor_.current(requested);
    if (pid_ != ::getpid()) open_files();  // a forked child: the open schedstat is its parent's thread's
    if (schedstat_ < 0 || loadavg_ < 0) {  // no /proc: nothing to adapt to
      window_start_ = now;
      return requested;
    }
    const int current = governor_.current(requested);
    uint64_t waited = 0;
    int running = 0;
    if (!wait_ns(waited) || !runnable(running)) {
      start_window(now, waited_);
      return current;
    }
    ThreadGovernor::Observation seen;
    const double wall = std::chrono::duration<double, std::nano>(now - window_start_).count();
    seen.wait_fraction = waited >= waited_ ? static_cast<double>(waited - waited_) / wall : 0.0;
    // The runnable count includes this thread and the team's workers, which spin between regions.
    seen.others_running = std::max(0, running - current);
    start_window(now, waited);
    return governor_.observe(seen, requested, cpus_);
  }

 private:
  void open_files() {
    close_files();
    pid_ = ::getpid();
    schedstat_ = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    loadavg_ = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    cpus_ = allowed_cpus();
    governor_ = ThreadGovernor();
    start_window(std::chrono::steady_clock::now());
  }
  void close_files() {
    if (schedstat_ >= 0) ::close(schedstat_);
    if (loadavg_ >= 0) ::close(loadavg_);
    schedstat_ = loadavg_ = -1;
  }
  void start_window(std::chrono::steady_clock::time_point now, uint64_t waited) {
    window_start_ = now;
    waited_ = waited;
  }
  void start_window(std::chrono::steady_clock::time_point now) {
    uint64_t waited = 0;
    wait_ns(waited);
    start_window(now, waited);
  }
  // schedstat: "<ns on a CPU> <ns runnable but waiting> <timeslices>"
  bool wait_ns(uint64_t& out) {
    char buf[128];
    unsigned long long on_cpu = 0, waited = 0;
    if (!read_proc(schedstat_, buf) || std::sscanf(buf, "%llu %llu", &on_cpu, &waited) != 2) return false;
    out = waited;
    return true;
  }
  // loadavg: "<1 min> <5 min> <15 min> <runnable>/<threads> <last pid>"
  bool runnable(int& out) {
    char buf[128];
    double avg = 0;
    int total = 0;
    if (!read_proc(loadavg_, buf) || std::sscanf(buf, "%lf %lf %lf %d/%d", &avg, &avg, &avg, &out, &total) != 5)
      return false;
    return true;
  }

  int pid_ = -1;
  int schedstat_ = -1;
  int loadavg_ = -1;
  int cpus_ = 1;
  ThreadGovernor governor_;
  std::chrono::steady_clock::time_point window_start_;
  uint64_t waited_ = 0;
};

thread_local int budget_depth = 0;

}  // namespace

void set_num_threads(int threads) {
  GRAFT_CHECK(threads >= 1, "set_num_threads: threads must be at least 1, got {}", threads);
  omp_set_num_threads(threads);
}

int get_num_threads() { return omp_get_max_threads(); }

void set_adaptive_threads(bool on) { adaptive_flag().store(on, std::memory_order_relaxed); }

bool adaptive_threads() { return adaptive_flag().load(std::memory_order_relaxed); }

int threads_for_next_region() {
  if (omp_in_parallel()) return 1;
  const int requested = omp_get_max_threads();
  if (requested <= 1 || !adaptive_threads()) return requested;
  thread_local Sampler sampler;
  return sampler.threads(requested);
}

ThreadBudget::ThreadBudget(int at_most)
    : previous_(omp_get_max_threads()), threads_(std::max(1, std::min(at_most, threads_for_next_region()))) {
  if (threads_ < previous_) omp_set_num_threads(threads_);
  ++budget_depth;
}

ThreadBudget::~ThreadBudget() {
  --budget_depth;
  if (threads_ < previous_) omp_set_num_threads(previous_);
}

bool ThreadBudget::active() { return budget_depth > 0; }

int ThreadGovernor::observe(const Observation& seen, int requested, int cpus) {
  const int now = current(requested);
  const int free_cpus = std::clamp(cpus - seen.others_running, 1, requested);
  if (seen.wait_fraction > kContendedWait && now > 1) {
    // Oversubscribed: keep the CPUs the others leave free, and at least one thread fewer than now. If the
    // count had just gone back up, the machine was not as free as it looked: wait longer next time.
    cap_ = std::max(1, std::min(now - 1, free_cpus));
    if (raised_recently_) calm_needed_ = std::min(2 * calm_needed_, kMaxCalmWindows);
    raised_recently_ = false;
    calm_ = 0;
    return cap_;
  }
  if (now < requested) {
    calm_ = free_cpus > now ? calm_ + 1 : 0;
    if (calm_ >= calm_needed_) {
      cap_ = free_cpus;
      calm_ = 0;
      raised_recently_ = true;
    }
  } else if (raised_recently_ && ++calm_ >= calm_needed_) {
    // The raised count held for as long as the machine had to look free before it: forget the backoff.
    calm_needed_ = kCalmWindows;
    raised_recently_ = false;
    calm_ = 0;
  }
  return current(requested);
}

}  // namespace graft
