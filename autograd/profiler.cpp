// The profiler's recorder: a process-wide session and, per thread, a stack of open events and a buffer of
// finished ones. Recording takes no lock: a thread registers its buffer with the session once (under the
// session's mutex) and from then on only appends to it; stop() gathers the buffers.
#include "graft/autograd/profiler.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "graft/graph/error.h"
#include "graft/graph/memory.h"
#include "graft/graph/node.h"

namespace graft::autograd::profiler {

namespace detail {
std::atomic<bool> recording{false};
}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

struct ThreadBuffer {
  std::mutex mutex;     // uncontended but for stop(), which may run while another thread ends an event
  bool closed = false;  // set by stop(): later events are dropped
  uint32_t thread = 0;
  std::string name;
  std::vector<FunctionEvent> events;
};

// An event that has begun and not yet ended on this thread.
struct OpenFrame {
  FunctionEvent event;
  Clock::time_point start;
  int64_t bytes_at_start = 0;
  double children_us = 0;
  int64_t children_bytes = 0;
};

struct Session {
  std::mutex mutex;
  uint64_t id = 0;  // 0: none; each profile gets the next id
  Clock::time_point start;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
};

Session& session() {
  static auto* s = new Session;  // never destroyed: threads may still end events during static destruction
  return *s;
}

std::atomic<uint64_t> current_session{0};
std::atomic<bool> shapes_wanted{false};
std::atomic<uint32_t> next_thread_number{0};

struct ThreadState {
  uint32_t number = next_thread_number.fetch_add(1, std::memory_order_relaxed);
  std::string name;
  uint64_t session = 0;
  std::shared_ptr<ThreadBuffer> buffer;
  std::vector<OpenFrame> stack;
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

std::string default_thread_name(uint32_t number) { return number == 0 ? "main" : "thread " + std::to_string(number); }

// This thread's buffer in the running session (registered on first use), or null when none is running.
ThreadBuffer* buffer_for(ThreadState& st, uint64_t id) {
  if (st.session == id) return st.buffer.get();
  Session& s = session();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.id != id) return nullptr;  // the profile stopped in between
  st.session = id;
  st.stack.clear();
  st.buffer = std::make_shared<ThreadBuffer>();
  st.buffer->thread = st.number;
  st.buffer->name = st.name.empty() ? default_thread_name(st.number) : st.name;
  s.buffers.push_back(st.buffer);
  return st.buffer.get();
}

double microseconds(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

bool detail::recording_shapes() { return shapes_wanted.load(std::memory_order_relaxed); }

const char* kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::Op: return "cpu_op";
    case EventKind::Backward: return "backward";
    case EventKind::UserScope: return "user_annotation";
    case EventKind::Optimizer: return "optimizer";
    case EventKind::Collective: return "collective";
  }
  return "cpu_op";
}

void set_thread_name(std::string name) {
  ThreadState& st = thread_state();
  st.name = std::move(name);
  if (st.buffer) {
    std::lock_guard<std::mutex> lock(st.buffer->mutex);
    st.buffer->name = st.name;
  }
}

// ---- RecordFunction ----

void RecordFunction::begin(const char* name, EventKind kind) { begin(std::string(name), kind); }
void RecordFunction::begin(const Node& backward_node) { begin(std::string(backward_node.name()), EventKind::Backward); }

void RecordFunction::begin(std::string name, EventKind kind) {
  const uint64_t id = current_session.load(std::memory_order_acquire);
  if (id == 0) return;
  ThreadState& st = thread_state();
  if (buffer_for(st, id) == nullptr) return;
  OpenFrame frame;
  frame.event.name = std::move(name);
  frame.event.kind = kind;
  frame.event.thread = st.number;
  frame.event.depth = static_cast<uint32_t>(st.stack.size());
  frame.bytes_at_start = thread_memory_allocated();
  st.stack.push_back(std::move(frame));
  session_ = id;
  frame_ = st.stack.size() - 1;
  active_ = true;
  st.stack.back().start = Clock::now();  // last, so that the bookkeeping above is not timed
}

void RecordFunction::end() {
  const Clock::time_point stop = Clock::now();
  active_ = false;
  ThreadState& st = thread_state();
  // The profile stopped (and maybe another began) while this event was open: it belongs to no session.
  if (st.session != session_ || current_session.load(std::memory_order_acquire) != session_) return;
  if (frame_ + 1 != st.stack.size()) return;  // not the innermost open event: cannot happen with scoped use
  OpenFrame frame = std::move(st.stack.back());
  st.stack.pop_back();
  FunctionEvent& e = frame.event;
  e.start_us = microseconds(frame.start - session().start);
  e.cpu_time_total_us = microseconds(stop - frame.start);
  e.self_cpu_time_total_us = std::max(0.0, e.cpu_time_total_us - frame.children_us);
  e.cpu_memory_usage = thread_memory_allocated() - frame.bytes_at_start;
  e.self_cpu_memory_usage = e.cpu_memory_usage - frame.children_bytes;
  if (!st.stack.empty()) {
    st.stack.back().children_us += e.cpu_time_total_us;
    st.stack.back().children_bytes += e.cpu_memory_usage;
  }
  std::lock_guard<std::mutex> lock(st.buffer->mutex);
  if (!st.buffer->closed) st.buffer->events.push_back(std::move(e));
}

void RecordFunction::add_arg(const char* key, int64_t value) {
  if (!active_) return;
  thread_state().stack[frame_].event.args.emplace_back(key, value);
}

void RecordFunction::add_input(const Tensor& t) {
  thread_state().stack[frame_].event.input_shapes.push_back(t.defined() ? t.shape() : Shape{});
}

void RecordFunction::add_input(const std::optional<Tensor>& t) {
  if (t) add_input(*t);
  else thread_state().stack[frame_].event.input_shapes.emplace_back();
}

void RecordFunction::add_input(ArrayRef<Tensor> ts) {
  for (const Tensor& t : ts) add_input(t);
}

// ---- profile ----

profile::profile(ProfileOptions options) : options_(options) {
  if (!options_.enabled) {
    stopped_ = true;
    return;
  }
  Session& s = session();
  std::lock_guard<std::mutex> lock(s.mutex);
  GRAFT_CHECK(s.id == 0, "profile: another profile is already recording in this process; stop() it first");
  static uint64_t last_id = 0;
  s.id = ++last_id;
  s.buffers.clear();
  s.start = Clock::now();
  start_steady_us_ = std::chrono::duration<double, std::micro>(s.start.time_since_epoch()).count();
  shapes_wanted.store(options_.record_shapes, std::memory_order_relaxed);
  current_session.store(s.id, std::memory_order_release);
  detail::recording.store(true, std::memory_order_release);
  recording_ = true;
}

profile::~profile() { stop(); }

void profile::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!recording_) return;
  recording_ = false;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  {
    Session& s = session();
    std::lock_guard<std::mutex> lock(s.mutex);
    detail::recording.store(false, std::memory_order_release);
    current_session.store(0, std::memory_order_release);
    shapes_wanted.store(false, std::memory_order_relaxed);
    s.id = 0;
    buffers.swap(s.buffers);
  }
  for (const auto& b : buffers) {
    std::lock_guard<std::mutex> lock(b->mutex);
    b->closed = true;
    threads_.emplace_back(b->thread, b->name);
    events_.insert(events_.end(), std::make_move_iterator(b->events.begin()), std::make_move_iterator(b->events.end()));
    b->events.clear();
  }
  std::sort(threads_.begin(), threads_.end());
  std::stable_sort(events_.begin(), events_.end(), [](const FunctionEvent& a, const FunctionEvent& b) {
    if (a.start_us != b.start_us) return a.start_us < b.start_us;
    return a.depth < b.depth;  // a parent starts with (or before) its first child
  });
}

void profile::check_stopped(const char* what) const {
  GRAFT_CHECK(stopped_, "profile.{}: the profile is still recording; call stop() first (PyTorch: leave the "
                        "`with profile()` block)", what);
}

const std::vector<FunctionEvent>& profile::events() const {
  check_stopped("events");
  return events_;
}

double profile::self_cpu_time_total_us() const {
  check_stopped("self_cpu_time_total_us");
  double total = 0;
  for (const FunctionEvent& e : events_) total += e.self_cpu_time_total_us;
  return total;
}

}  // namespace graft::autograd::profiler
