#pragma once
// The profiler (torch.autograd.profiler): while a `profile` is alive, every op's forward (each public
// F:: op and tensor operator), every backward node the engine runs, every optimizer step, every ZeRO
// collective and every user scope (`record_function`) is recorded with its wall time, its self time (minus
// the events nested in it on the same thread), its net allocated bytes and, when asked, its inputs' shapes.
//
//   graft::profiler::profile prof({.record_shapes = true, .profile_memory = true});
//   {
//     graft::profiler::record_function scope("train_step");
//     Tensor loss = model(x).sum();
//     loss.backward();
//     optimizer.step();
//   }
//   prof.stop();
//   std::cout << prof.key_averages().table("cpu_time_total", 20);
//   prof.export_chrome_trace("trace.json");   // open it in https://ui.perfetto.dev or chrome://tracing
//
// Events nest per thread: an op that calls other ops (linear calls matmul) is their parent, and a backward
// node's event contains the ops its formula runs. Threads record into their own buffers, so the ranks of an
// in-process ZeRO run (threads named "rank 0", "rank 1", ...) appear as separate tracks of the trace.
//
// Cost: with no profile alive, one relaxed atomic load per op; while one is alive, about two clock reads and
// one small record per event.
//
// Differences from PyTorch: events are named by graft's op names ("matmul", not "aten::matmul"); backward
// events carry the node's name ("MulBackward0") without PyTorch's "autograd::engine::evaluate_function: "
// wrapper; only one profile may be alive at a time in a process (PyTorch: per thread); memory is the net of
// graft's storage allocations and frees on the event's thread (graph/memory.h); reading results before
// stop() raises (PyTorch: before leaving the `with` block).
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph/array_ref.h"
#include "graft/graph/tensor.h"

namespace graft::autograd::profiler {

/// What recorded an event; it becomes the event's category in the Chrome trace.
enum class EventKind : uint8_t {
  Op,          ///< a forward op ("cpu_op")
  Backward,    ///< a backward node run by the engine ("backward")
  UserScope,   ///< a record_function scope ("user_annotation")
  Optimizer,   ///< an optimizer step ("optimizer")
  Collective,  ///< a ZeRO collective ("collective")
};

/// The trace category of `kind`: "cpu_op", "backward", "user_annotation", "optimizer" or "collective".
const char* kind_name(EventKind kind);

/// One recorded call (torch.autograd.profiler_util.FunctionEvent). Times are in microseconds from the
/// profile's start; memory in bytes.
struct FunctionEvent {
  std::string name;
  EventKind kind = EventKind::Op;
  uint32_t thread = 0;              ///< graft's number for the recording thread (see thread_name)
  double start_us = 0;
  double cpu_time_total_us = 0;     ///< wall time from the call's start to its end
  double self_cpu_time_total_us = 0;  ///< cpu_time_total_us minus the events nested directly in it
  int64_t cpu_memory_usage = 0;     ///< bytes allocated minus freed during the call, on its thread
  int64_t self_cpu_memory_usage = 0;  ///< the same minus the events nested directly in it
  uint32_t depth = 0;               ///< how many events enclose it on its thread
  std::vector<Shape> input_shapes;  ///< with record_shapes: each tensor input's shape (empty for an undefined one)
  std::vector<std::pair<std::string, int64_t>> args;  ///< extra figures, e.g. a collective's {"bytes", n}
};

/// Events of one name (and input shapes, when grouped by them) summed (FunctionEventAvg).
struct FunctionEventAvg {
  std::string key;
  int64_t count = 0;
  double cpu_time_total_us = 0;
  double self_cpu_time_total_us = 0;
  int64_t cpu_memory_usage = 0;
  int64_t self_cpu_memory_usage = 0;
  std::vector<Shape> input_shapes;  ///< set when grouped by input shape
  /// Mean wall time per call.
  double cpu_time_us() const { return count == 0 ? 0.0 : cpu_time_total_us / static_cast<double>(count); }
};

/// The result of profile::key_averages(): one row per name, in order of first appearance.
class KeyAverages {
 public:
  KeyAverages(std::vector<FunctionEventAvg> rows, bool with_memory, bool with_shapes);
  const std::vector<FunctionEventAvg>& rows() const { return rows_; }
  /// The row of `key` (the first one when grouped by input shape), or null.
  const FunctionEventAvg* find(const std::string& key) const;
  /// PyTorch's text table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg, [CPU Mem, Self CPU
  /// Mem,] # of Calls [, Input Shapes], and the self CPU time total below it.
  /// @param sort_by "" (order of first appearance), "cpu_time_total", "self_cpu_time_total", "cpu_time"
  ///        (mean), "count", "cpu_memory_usage" or "self_cpu_memory_usage"; largest first.
  /// @param row_limit at most this many rows (all when negative).
  /// @throws graft::Error for an unknown sort_by.
  std::string table(const std::string& sort_by = "", int row_limit = 100) const;

 private:
  std::vector<FunctionEventAvg> rows_;
  bool with_memory_;
  bool with_shapes_;
};

/// torch.autograd.profiler.profile's arguments.
struct ProfileOptions {
  bool enabled = true;          ///< false: the profile records nothing (and costs nothing)
  bool record_shapes = false;   ///< keep each op's input shapes
  bool profile_memory = false;  ///< show the memory columns in tables (memory is always recorded)
};

/// Records while alive (or until stop()). Only one profile records at a time in a process.
class profile {
 public:
  /// Starts recording.
  /// @throws graft::Error when another profile is recording.
  explicit profile(ProfileOptions options = {});
  /// Stops recording if stop() was not called.
  ~profile();
  profile(const profile&) = delete;
  profile& operator=(const profile&) = delete;

  /// Stops recording and gathers every thread's events; calling it again does nothing. Events still open
  /// (a scope enclosing the stop) are dropped.
  void stop();
  bool stopped() const { return stopped_; }

  /// Every recorded event, ordered by start time (torch's function_events).
  /// @throws graft::Error before stop().
  const std::vector<FunctionEvent>& events() const;
  /// The events summed per name (and per input shapes when group_by_input_shape, which needs record_shapes).
  /// @throws graft::Error before stop(), or when grouping by shapes that were not recorded.
  KeyAverages key_averages(bool group_by_input_shape = false) const;
  /// key_averages().table(sort_by, row_limit).
  std::string table(const std::string& sort_by = "", int row_limit = 100) const;
  /// Sum of every event's self time, in microseconds: the time the profile accounts for.
  double self_cpu_time_total_us() const;
  /// Writes the events in the Chrome trace format ("X" events with name, category, ts, dur, pid, tid and args
  /// holding the input shapes, bytes and collective sizes; "M" events naming the process and each thread), which
  /// Perfetto and chrome://tracing open. The write is atomic: a failed export leaves an existing file as it was.
  /// @throws graft::Error before stop(), or when the file cannot be written.
  void export_chrome_trace(const std::string& path) const;
  /// The Chrome trace export_chrome_trace writes, as text, with the events under process id `pid` named
  /// `process_name` and every time shifted by `offset_us` (to line up the profiles of several processes).
  /// @throws graft::Error before stop().
  std::string chrome_trace(int pid, const std::string& process_name, double offset_us = 0) const;
  /// When recording started, in microseconds of std::chrono::steady_clock (CLOCK_MONOTONIC: one clock for
  /// every process of a machine).
  double start_steady_us() const { return start_steady_us_; }
  /// The names of the threads that recorded, by thread number.
  const std::vector<std::pair<uint32_t, std::string>>& threads() const { return threads_; }

 private:
  void check_stopped(const char* what) const;

  ProfileOptions options_;
  bool stopped_ = false;
  bool recording_ = false;
  double start_steady_us_ = 0;
  std::vector<FunctionEvent> events_;
  std::vector<std::pair<uint32_t, std::string>> threads_;
};

namespace detail {
extern std::atomic<bool> recording;
bool recording_shapes();
}  // namespace detail

/// True while a profile is recording (torch.autograd._profiler_enabled).
inline bool is_profiler_enabled() { return detail::recording.load(std::memory_order_relaxed); }

/// Names the calling thread in traces (e.g. "rank 2"); by default threads are named "thread N" and the first
/// one to record "main".
void set_thread_name(std::string name);

/// The recorder of one event (PyTorch's RecordFunction): the event spans this object's lifetime. Ops create
/// it through GRAFT_RECORD_FUNCTION; with no profile recording it does nothing.
class RecordFunction {
 public:
  /// @param name must outlive the profile (a string literal, or a Node's name()).
  /// @param inputs tensors (or lists or optionals of them) whose shapes are kept with record_shapes.
  template <class... Inputs>
  explicit RecordFunction(const char* name, const Inputs&... inputs) {
    if (is_profiler_enabled()) [[unlikely]] {
      begin(name, EventKind::Op);
      if (active_ && detail::recording_shapes()) (add_input(inputs), ...);
    }
  }
  /// An event of another kind, or with a name made at run time.
  RecordFunction(EventKind kind, const char* name) {
    if (is_profiler_enabled()) [[unlikely]] begin(name, kind);
  }
  RecordFunction(EventKind kind, std::string name) {
    if (is_profiler_enabled()) [[unlikely]] begin(std::move(name), kind);
  }
  /// A backward node's run, named after the node (its name is read only while recording).
  explicit RecordFunction(const Node& backward_node) {
    if (is_profiler_enabled()) [[unlikely]] begin(backward_node);
  }
  ~RecordFunction() {
    if (active_) [[unlikely]] end();
  }
  RecordFunction(const RecordFunction&) = delete;
  RecordFunction& operator=(const RecordFunction&) = delete;

  /// True when the event is being recorded.
  bool active() const { return active_; }
  /// Attaches a figure to the event (shown in the trace's args), e.g. {"bytes", 4096}; ignored when inactive.
  void add_arg(const char* key, int64_t value);

 private:
  void begin(const char* name, EventKind kind);
  void begin(std::string name, EventKind kind);
  void begin(const Node& backward_node);
  void end();
  void add_input(const Tensor& t);
  void add_input(const std::optional<Tensor>& t);
  void add_input(ArrayRef<Tensor> ts);
  void add_input(const std::vector<Tensor>& ts) { add_input(ArrayRef<Tensor>(ts)); }

  bool active_ = false;
  uint64_t session_ = 0;
  size_t frame_ = 0;
};

/// A user-named scope in the profile (torch.autograd.profiler.record_function), e.g. one training step.
class record_function {
 public:
  explicit record_function(std::string name) : record_(EventKind::UserScope, std::move(name)) {}

 private:
  RecordFunction record_;
};

}  // namespace graft::autograd::profiler

namespace graft {
/// graft::profiler is graft::autograd::profiler (PyTorch has both torch.profiler and torch.autograd.profiler).
namespace profiler = autograd::profiler;
}  // namespace graft

/// Records the enclosing scope as the op `name` (PyTorch's RECORD_FUNCTION); the tensors after the name are
/// the inputs whose shapes record_shapes keeps.
#define GRAFT_RECORD_FUNCTION(name, ...) \
  ::graft::autograd::profiler::RecordFunction graft_record_function_guard_(name __VA_OPT__(, ) __VA_ARGS__)
