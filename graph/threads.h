#pragma once
// How many threads graft's kernels use: the count the user asks for (torch::set_num_threads), lowered while
// the CPU is oversubscribed.
//
// Why: graft runs on GNU OpenMP (oneDNN's runtime), whose idle threads spin for a while before they sleep.
// On an idle machine that makes back-to-back parallel regions cheap; on a machine whose cores are taken by
// other processes the spinning threads and the descheduled ones wait for each other at every barrier, and a
// training step measured 2-16x slower. OpenMP's wait policy is read once, from the environment, before main
// runs, so graft cannot change it; what it can change is how many threads each parallel region asks for.
// With one thread there is no barrier to wait at.
//
// Adaptive threads (on by default): every ~10 ms, the thread that starts parallel regions reads how long it
// sat runnable without a CPU (/proc/thread-self/schedstat) and how many threads the machine has runnable
// (/proc/loadavg). When it waited for more than a tenth of the time, graft uses only the CPUs the other
// processes leave free (at least one); it returns to the full count once enough CPUs have stayed free for a
// while (the wait grows each time a return had to be undone). See ThreadGovernor for the rule.
#include <cstdint>
#include <limits>

namespace graft {

/// Sets the number of threads graft's kernels (and oneDNN) use from now on, as torch::set_num_threads: the
/// OpenMP thread count of the calling thread (omp_set_num_threads).
/// @param threads at least 1.
/// @throws Error if threads < 1.
void set_num_threads(int threads);

/// The number of threads graft's kernels may use, as torch::get_num_threads (omp_get_max_threads()); the
/// count actually used can be lower while adaptive threads hold it down (threads_for_next_region()).
int get_num_threads();

/// Turns adaptive threads on or off for the whole process. Off: every parallel region uses
/// get_num_threads() whatever else runs on the machine. The default is on, or off when the environment
/// variable GRAFT_ADAPTIVE_THREADS is 0.
void set_adaptive_threads(bool on);

/// Whether adaptive threads are on (see set_adaptive_threads()).
bool adaptive_threads();

/// The number of threads a parallel region started now by the calling thread uses: get_num_threads(), or
/// fewer while adaptive threads hold the count down; 1 inside a parallel region. Samples the machine at most
/// every 10 ms (two reads of /proc, about 3 us), so it is cheap enough to call before every region.
int threads_for_next_region();

/// For the lifetime of the guard, lowers the calling thread's OpenMP thread count to
/// threads_for_next_region(), or to `at_most` if that is lower, so that a library which reads
/// omp_get_max_threads() (oneDNN) creates and runs its primitives with the count graft chose (a small
/// product passes 1: one thread beats the cost of a parallel region). Restores the previous count on
/// destruction.
class ThreadBudget {
 public:
  /// No bound beyond threads_for_next_region().
  static constexpr int kAny = std::numeric_limits<int>::max();
  /// @param at_most the most threads the scope may use, at least 1.
  explicit ThreadBudget(int at_most = kAny);
  ~ThreadBudget();
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;
  /// The thread count in force inside the guard.
  int threads() const { return threads_; }
  /// Whether a ThreadBudget is alive on the calling thread.
  static bool active();

 private:
  int previous_;
  int threads_;
};

/// The rule adaptive threads follow, apart from the clock and /proc so that it can be tested. Fed one
/// observation per sampling window, it answers how many threads to use in the next window.
class ThreadGovernor {
 public:
  /// One sampling window as the thread starting parallel regions saw it.
  struct Observation {
    /// Time this thread spent runnable but waiting for a CPU, as a fraction of the window's wall time.
    double wait_fraction = 0;
    /// Runnable threads of other processes at the end of the window (never negative).
    int others_running = 0;
  };
  /// A wait above this fraction means the CPUs are oversubscribed.
  static constexpr double kContendedWait = 0.10;
  /// Consecutive windows with enough free CPUs before the count goes back up (doubled after each return
  /// that had to be undone, up to kMaxCalmWindows).
  static constexpr int kCalmWindows = 3;
  static constexpr int kMaxCalmWindows = 200;

  /// Returns the thread count for the next window, between 1 and `requested`, after `seen`.
  /// @param requested the count the user asked for (get_num_threads()), at least 1.
  /// @param cpus the CPUs this process may run on, at least 1.
  int observe(const Observation& seen, int requested, int cpus);

  /// The count chosen by the last observe(), or `requested` before the first one.
  int current(int requested) const { return cap_ < requested ? cap_ : requested; }

 private:
  int cap_ = 1 << 30;  // no cap
  int calm_ = 0;
  int calm_needed_ = kCalmWindows;
  bool raised_recently_ = false;
};

}  // namespace graft
