#include "graft/optim/zero/communicator.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>

namespace graft::optim::zero {

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::AllReduce: return "all_reduce";
    case Collective::ReduceScatter: return "reduce_scatter";
    case Collective::AllGather: return "all_gather";
    case Collective::Broadcast: return "broadcast";
    case Collective::Barrier: return "barrier";
  }
  return "?";
}

Traffic& Traffic::operator+=(const Traffic& o) {
  calls += o.calls;
  elements_sent += o.elements_sent;
  elements_received += o.elements_received;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  return *this;
}

Traffic& Traffic::operator-=(const Traffic& o) {
  calls -= o.calls;
  elements_sent -= o.elements_sent;
  elements_received -= o.elements_received;
  bytes_sent -= o.bytes_sent;
  bytes_received -= o.bytes_received;
  return *this;
}

Traffic total(const TrafficByCollective& traffic) {
  Traffic sum;
  for (const Traffic& t : traffic) sum += t;
  return sum;
}

TrafficByCollective operator-(TrafficByCollective a, const TrafficByCollective& b) {
  for (size_t i = 0; i < kNumCollectives; ++i) a[i] -= b[i];
  return a;
}

namespace {

void check_buffer(const char* op, const char* what, const Tensor& t) {
  GRAFT_CHECK(t.defined(), "{}: {} is undefined", op, what);
  GRAFT_CHECK(t.is_floating_point(), "{}: {} must be floating point, got {}", op, what, dtype_name(t.dtype()));
  GRAFT_CHECK(t.is_contiguous(), "{}: {} (shape {}) must be contiguous", op, what, shape_str(t.shape()));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  GRAFT_CHECK(a.dtype() == b.dtype(), "{}: input is {} but output is {}", op, dtype_name(a.dtype()),
              dtype_name(b.dtype()));
}

// `part` may overlap `whole` only by being exactly the part that starts `offset` elements into it.
void check_alias(const char* op, const Tensor& whole, const Tensor& part, int64_t offset, int rank) {
  if (whole.storage() != part.storage()) return;
  const int64_t w0 = whole.storage_offset(), w1 = w0 + whole.numel();
  const int64_t p0 = part.storage_offset(), p1 = p0 + part.numel();
  if (p1 <= w0 || w1 <= p0 || part.numel() == 0) return;
  GRAFT_CHECK(p0 == w0 + offset,
              "{}: the input and output overlap, but the smaller one is not rank {}'s chunk of the larger one (it starts "
              "{} elements into it, rank {}'s chunk starts at {})",
              op, rank, p0 - w0, rank, offset);
}

// The checks every variable-count collective makes: buffers, one non-negative count per rank.
void check_buffers_and_counts(const char* op, const Tensor& input, const Tensor& output,
                              const std::vector<int64_t>& counts, int world_size) {
  check_buffer(op, "input", input);
  check_buffer(op, "output", output);
  check_same_dtype(op, input, output);
  GRAFT_CHECK(counts.size() == static_cast<size_t>(world_size), "{}: got {} counts for world size {}", op,
              counts.size(), world_size);
  for (size_t s = 0; s < counts.size(); ++s)
    GRAFT_CHECK(counts[s] >= 0, "{}: the count of rank {} is negative ({})", op, s, counts[s]);
}

int64_t prefix(const std::vector<int64_t>& counts, int upto) {
  return std::accumulate(counts.begin(), counts.begin() + upto, int64_t{0});
}

// What rank `rank` moves under the ring model, in elements, when the chunks are `counts`. A reduce-scatter
// passes on every chunk but the rank's own and receives every chunk but its predecessor's; an all-gather
// passes on every chunk but its successor's and receives every chunk but its own.
struct RingElements {
  int64_t sent = 0, received = 0;
};

RingElements ring_reduce_scatter(const std::vector<int64_t>& counts, int rank) {
  const size_t r = static_cast<size_t>(rank), W = counts.size();
  const int64_t n = prefix(counts, static_cast<int>(W));
  return {n - counts[r], n - counts[(r + W - 1) % W]};
}

RingElements ring_all_gather(const std::vector<int64_t>& counts, int rank) {
  const size_t r = static_cast<size_t>(rank), W = counts.size();
  const int64_t n = prefix(counts, static_cast<int>(W));
  return {n - counts[(r + 1) % W], n - counts[r]};
}

// A reduce-scatter and then an all-gather.
RingElements ring_all_reduce(const std::vector<int64_t>& counts, int rank) {
  const RingElements rs = ring_reduce_scatter(counts, rank), ag = ring_all_gather(counts, rank);
  return {rs.sent + ag.sent, rs.received + ag.received};
}

}  // namespace

void Communicator::set_timeout(std::chrono::milliseconds timeout) {
  GRAFT_CHECK(timeout.count() > 0, "Communicator.set_timeout: the timeout must be positive, got {} ms", timeout.count());
  timeout_ = timeout;
}

std::string detail::describe_ranks(const std::vector<int>& ranks) {
  return fmt::format("{} {}", ranks.size() == 1 ? "rank" : "ranks", fmt::join(ranks, ", "));
}

Communicator::Communicator(int rank, int world_size) : rank_(rank), world_size_(world_size) {
  GRAFT_CHECK(world_size >= 1, "Communicator: the world size must be at least 1, got {}", world_size);
  GRAFT_CHECK(rank >= 0 && rank < world_size, "Communicator: rank {} is out of range for world size {} (ranks are 0 to {})",
              rank, world_size, world_size - 1);
}

void Communicator::count(Collective c, int64_t sent, int64_t received, DType dtype,
                         profiler::RecordFunction& record) {
  Traffic& t = traffic_[static_cast<size_t>(c)];
  const int64_t size = static_cast<int64_t>(element_size(dtype));
  if (record.active()) {
    record.add_arg("rank", rank_);
    record.add_arg("bytes_sent", sent * size);
    record.add_arg("bytes_received", received * size);
  }
  t.calls += 1;
  t.elements_sent += sent;
  t.elements_received += received;
  t.bytes_sent += sent * size;
  t.bytes_received += received * size;
}

std::vector<int64_t> Communicator::balanced_counts(int64_t n) const {
  std::vector<int64_t> counts(static_cast<size_t>(world_size_), n / world_size_);
  for (int64_t s = 0; s < n % world_size_; ++s) counts[static_cast<size_t>(s)] += 1;
  return counts;
}

void Communicator::all_reduce(const Tensor& buffer) { all_reduce(buffer, buffer, false); }

void Communicator::all_reduce(const Tensor& input, const Tensor& output, bool accumulate) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "all_reduce");
  check_buffer("all_reduce", "input", input);
  check_buffer("all_reduce", "output", output);
  check_same_dtype("all_reduce", input, output);
  GRAFT_CHECK(input.numel() == output.numel(), "all_reduce: input has {} elements but output has {}", input.numel(),
              output.numel());
  check_alias("all_reduce", input, output, 0, rank_);
  const int64_t n = input.numel();
  const std::vector<int64_t> counts = balanced_counts(n);
  // A reduce-scatter into this rank's chunk of the output, then an all-gather of the chunks in place.
  const int64_t begin = prefix(counts, rank_);
  char* out_chunk = static_cast<char*>(output.data_ptr()) + begin * static_cast<int64_t>(output.element_size());
  try {
    do_reduce_scatter(input.data_ptr(), out_chunk, counts, input.dtype(), accumulate);
    do_all_gather(out_chunk, output.data_ptr(), counts, input.dtype());
  } catch (const Error& e) {  // a timeout names the step; the caller called all_reduce
    GRAFT_FAIL("all_reduce: {}", e.what());
  }
  const RingElements moved = ring_all_reduce(counts, rank_);
  count(Collective::AllReduce, moved.sent, moved.received, input.dtype(), record);
}

void Communicator::reduce_scatter(const Tensor& input, const Tensor& output, bool accumulate) {
  check_buffer("reduce_scatter", "input", input);
  check_buffer("reduce_scatter", "output", output);
  const int64_t c = output.numel();
  GRAFT_CHECK(input.numel() == c * world_size_,
              "reduce_scatter: the input must hold world_size ({}) chunks of the output's {} elements, i.e. {} elements, "
              "but has {}",
              world_size_, c, c * world_size_, input.numel());
  reduce_scatter(input, output, std::vector<int64_t>(static_cast<size_t>(world_size_), c), accumulate);
}

void Communicator::check_reduce_scatter(const char* op, const Tensor& input, const Tensor& output,
                                        const std::vector<int64_t>& counts) const {
  check_buffers_and_counts(op, input, output, counts, world_size_);
  const int64_t n = prefix(counts, world_size_);
  GRAFT_CHECK(input.numel() == n, "{}: the counts add up to {} elements but the input has {}", op, n, input.numel());
  GRAFT_CHECK(output.numel() == counts[static_cast<size_t>(rank_)],
              "{}: rank {} receives {} elements but its output has {}", op, rank_, counts[static_cast<size_t>(rank_)],
              output.numel());
  check_alias(op, input, output, prefix(counts, rank_), rank_);
}

void Communicator::reduce_scatter(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts,
                                  bool accumulate) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "reduce_scatter");
  check_reduce_scatter("reduce_scatter", input, output, counts);
  do_reduce_scatter(input.data_ptr(), output.data_ptr(), counts, input.dtype(), accumulate);
  const RingElements moved = ring_reduce_scatter(counts, rank_);
  count(Collective::ReduceScatter, moved.sent, moved.received, input.dtype(), record);
}

std::unique_ptr<Work> Communicator::reduce_scatter_async(const Tensor& input, const Tensor& output,
                                                         const std::vector<int64_t>& counts, bool accumulate) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "reduce_scatter");
  check_reduce_scatter("reduce_scatter_async", input, output, counts);
  std::unique_ptr<detail::InFlight> in_flight =
      start_reduce_scatter(input.data_ptr(), output.data_ptr(), counts, input.dtype(), accumulate);
  const RingElements moved = ring_reduce_scatter(counts, rank_);
  count(Collective::ReduceScatter, moved.sent, moved.received, input.dtype(), record);
  return std::unique_ptr<Work>(new Work("reduce_scatter", std::move(in_flight), nullptr));
}

std::unique_ptr<Work> Communicator::all_reduce_async(const Tensor& input, const Tensor& output, bool accumulate) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "all_reduce");
  check_buffer("all_reduce_async", "input", input);
  check_buffer("all_reduce_async", "output", output);
  check_same_dtype("all_reduce_async", input, output);
  GRAFT_CHECK(input.numel() == output.numel(), "all_reduce_async: input has {} elements but output has {}",
              input.numel(), output.numel());
  check_alias("all_reduce_async", input, output, 0, rank_);
  const int64_t n = input.numel();
  const std::vector<int64_t> counts = balanced_counts(n);
  void* out_chunk = static_cast<char*>(output.data_ptr()) + prefix(counts, rank_) * static_cast<int64_t>(output.element_size());
  std::unique_ptr<detail::InFlight> in_flight =
      start_reduce_scatter(input.data_ptr(), out_chunk, counts, input.dtype(), accumulate);
  const RingElements moved = ring_all_reduce(counts, rank_);
  count(Collective::AllReduce, moved.sent, moved.received, input.dtype(), record);
  // The all-gather of the reduced chunks, in wait(): collectives start in the same order on every rank only if
  // they start at points every rank reaches in the same order.
  auto gather = [this, out_chunk, out = output.data_ptr(), counts, dtype = input.dtype()] {
    do_all_gather(out_chunk, out, counts, dtype);
  };
  return std::unique_ptr<Work>(new Work("all_reduce", std::move(in_flight), std::move(gather)));
}

namespace {
// A transfer that completed when it started.
class Completed final : public detail::InFlight {
 public:
  bool test() override { return true; }
  void finish() override {}
};
}  // namespace

std::unique_ptr<detail::InFlight> Communicator::start_reduce_scatter(const void* in, void* out,
                                                                      const std::vector<int64_t>& counts, DType dtype,
                                                                      bool accumulate) {
  do_reduce_scatter(in, out, counts, dtype, accumulate);
  return std::make_unique<Completed>();
}

std::unique_ptr<detail::InFlight> Communicator::start_all_gather(const void* in, void* out,
                                                                  const std::vector<int64_t>& counts, DType dtype) {
  do_all_gather(in, out, counts, dtype);
  return std::make_unique<Completed>();
}

Work::Work(const char* op, std::unique_ptr<detail::InFlight> in_flight, std::function<void()> then)
    : op_(op), in_flight_(std::move(in_flight)), then_(std::move(then)) {}

Work::~Work() {
  if (done_) return;
  try {
    wait();
  } catch (const Error&) {
    // The communicator is unusable after a failed transfer: its next collective reports why.
  }
}

void Work::wait() {
  if (done_) return;
  done_ = true;  // a failure is not retried
  profiler::RecordFunction waiting(profiler::EventKind::Collective, "wait");
  try {
    in_flight_->finish();
    if (then_) then_();
  } catch (const Error& e) {
    if (std::string_view(e.what()).starts_with(op_)) throw;
    GRAFT_FAIL("{}: {}", op_, e.what());  // all_reduce's steps name themselves
  }
}

bool Work::is_completed() { return done_ || in_flight_->test(); }

void Communicator::all_gather(const Tensor& input, const Tensor& output) {
  check_buffer("all_gather", "input", input);
  check_buffer("all_gather", "output", output);
  GRAFT_CHECK(output.numel() == input.numel() * world_size_,
              "all_gather: the output must hold world_size ({}) times the input's {} elements, i.e. {} elements, but has {}",
              world_size_, input.numel(), input.numel() * world_size_, output.numel());
  all_gather(input, output, std::vector<int64_t>(static_cast<size_t>(world_size_), input.numel()));
}

void Communicator::check_all_gather(const char* op, const Tensor& input, const Tensor& output,
                                    const std::vector<int64_t>& counts) const {
  check_buffers_and_counts(op, input, output, counts, world_size_);
  const size_t r = static_cast<size_t>(rank_);
  GRAFT_CHECK(input.numel() == counts[r], "{}: rank {} contributes {} elements but its input has {}", op, rank_,
              counts[r], input.numel());
  const int64_t n = prefix(counts, world_size_);
  GRAFT_CHECK(output.numel() == n, "{}: the counts add up to {} elements but the output has {}", op, n, output.numel());
  check_alias(op, output, input, prefix(counts, rank_), rank_);
}

void Communicator::all_gather(const Tensor& input, const Tensor& output, const std::vector<int64_t>& counts) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "all_gather");
  check_all_gather("all_gather", input, output, counts);
  do_all_gather(input.data_ptr(), output.data_ptr(), counts, input.dtype());
  const RingElements moved = ring_all_gather(counts, rank_);
  count(Collective::AllGather, moved.sent, moved.received, input.dtype(), record);
}

std::unique_ptr<Work> Communicator::all_gather_async(const Tensor& input, const Tensor& output,
                                                     const std::vector<int64_t>& counts) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "all_gather");
  check_all_gather("all_gather_async", input, output, counts);
  std::unique_ptr<detail::InFlight> in_flight = start_all_gather(input.data_ptr(), output.data_ptr(), counts, input.dtype());
  const RingElements moved = ring_all_gather(counts, rank_);
  count(Collective::AllGather, moved.sent, moved.received, input.dtype(), record);
  return std::unique_ptr<Work>(new Work("all_gather", std::move(in_flight), nullptr));
}

void Communicator::broadcast(const Tensor& buffer, int root) {
  profiler::RecordFunction record(profiler::EventKind::Collective, "broadcast");
  check_buffer("broadcast", "buffer", buffer);
  GRAFT_CHECK(root >= 0 && root < world_size_, "broadcast: root {} is out of range for world size {}", root,
              world_size_);
  const int64_t n = buffer.numel();
  do_broadcast(buffer.data_ptr(), n, buffer.dtype(), root);
  const int predecessor = (root + world_size_ - 1) % world_size_;
  count(Collective::Broadcast, rank_ == predecessor ? 0 : n, rank_ == root ? 0 : n, buffer.dtype(), record);
}

void Communicator::barrier() {
  profiler::RecordFunction record(profiler::EventKind::Collective, "barrier");
  do_barrier();
  count(Collective::Barrier, 0, 0, kFloat32, record);
}

namespace detail {

namespace {
template <class T>
void ordered_sum_impl(T* out, const std::vector<const void*>& in, int64_t n, bool accumulate) {
  constexpr int64_t kBlock = 512;
  T acc[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    size_t first = 0;
    if (accumulate) {
      std::memcpy(acc, out + b, static_cast<size_t>(len) * sizeof(T));
    } else {
      std::memcpy(acc, static_cast<const T*>(in[0]) + b, static_cast<size_t>(len) * sizeof(T));
      first = 1;
    }
    for (size_t s = first; s < in.size(); ++s) {
      const T* x = static_cast<const T*>(in[s]) + b;
      for (int64_t i = 0; i < len; ++i) acc[i] = acc[i] + x[i];
    }
    std::memcpy(out + b, acc, static_cast<size_t>(len) * sizeof(T));
  }
}
}  // namespace

void ordered_sum(void* out, const std::vector<const void*>& in, int64_t n, DType dtype, bool accumulate) {
  GRAFT_CHECK(!in.empty(), "ordered_sum: no inputs");
  if (dtype == kFloat32) ordered_sum_impl(static_cast<float*>(out), in, n, accumulate);
  else if (dtype == kFloat64) ordered_sum_impl(static_cast<double*>(out), in, n, accumulate);
  // 16-bit sums round after every addition, as accumulating 16-bit gradients in one process does.
  else if (dtype == kBFloat16) ordered_sum_impl(static_cast<BFloat16*>(out), in, n, accumulate);
  else if (dtype == kFloat16) ordered_sum_impl(static_cast<Half*>(out), in, n, accumulate);
  else GRAFT_FAIL("ordered_sum: {} buffers cannot be reduced", dtype_name(dtype));
}

}  // namespace detail

}  // namespace graft::optim::zero
