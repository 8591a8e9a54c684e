// The graph does not leak: its nodes die with the tensors that hold them, and training for thousands of
// steps keeps the process's resident memory flat.
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include "support/sanitizers.h"
#if GRAFT_ASAN
// From the sanitizer runtime (sanitizer/allocator_interface.h, not installed with every compiler).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <fstream>
#include <unordered_set>

#include "graft/graft.h"

using namespace graft;

namespace {

// The memory the process holds, in bytes: its resident set size from /proc/self/statm, after handing the
// heap's free pages back to the system (else memory freed by an earlier test, say a million-node graph,
// would absorb any growth). Under AddressSanitizer, whose allocator keeps freed blocks in a quarantine,
// the allocator's own count of live bytes.
int64_t resident_bytes() {
#if GRAFT_ASAN
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
#endif
}

// Every node reachable from `roots`, held weakly.
std::vector<std::weak_ptr<Node>> graph_nodes(const TensorList& roots) {
  std::vector<std::weak_ptr<Node>> out;
  std::unordered_set<Node*> seen;
  std::vector<std::shared_ptr<Node>> stack;
  for (const Tensor& t : roots)
    if (t.grad_fn()) stack.push_back(t.grad_fn());
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(n.get()).second) continue;
    out.push_back(n);
    for (size_t i = 0; i < n->num_inputs(); ++i)
      if (n->next_edge(i).valid()) stack.push_back(n->next_edge(i).node);
  }
  return out;
}

size_t alive(const std::vector<std::weak_ptr<Node>>& nodes) {
  size_t n = 0;
  for (const auto& w : nodes) n += !w.expired();
  return n;
}

struct TinyMlp {
  Tensor x, target, w1, b1, w2;
  TinyMlp() {
    manual_seed(0);
    x = randn({32, 8}, kFloat64);
    target = randn({32, 1}, kFloat64);
    w1 = (randn({8, 16}, kFloat64) * 0.3).requires_grad_();
    b1 = zeros({16}, kFloat64).requires_grad_();
    w2 = (randn({16, 1}, kFloat64) * 0.3).requires_grad_();
  }
  TensorList params() const { return {w1, b1, w2}; }
  Tensor loss() const { return (matmul(tanh(matmul(x, w1) + b1), w2) - target).pow(2).mean(); }
  // One SGD step; returns the loss before it.
  double step(double lr) {
    Tensor l = loss();
    for (Tensor p : params()) p.set_grad(Tensor());  // zero_grad(set_to_none=True)
    l.backward();
    NoGradGuard no_grad;
    for (Tensor p : params()) p.sub_(p.grad(), lr);
    return l.item<double>();
  }
};

}  // namespace

TEST(NoLeaks, NodesDieWithTheTensorsThatHoldThem) {
  TinyMlp m;
  std::vector<std::weak_ptr<Node>> nodes;
  {
    Tensor l = m.loss();
    nodes = graph_nodes({l});
    ASSERT_GE(nodes.size(), 9u);  // 6 ops + 3 accumulators
    EXPECT_EQ(alive(nodes), nodes.size());
  }
  // The leaves are still alive, but nothing holds their accumulators: everything is gone.
  EXPECT_EQ(alive(nodes), 0u);
}

TEST(NoLeaks, AfterBackwardAndWithRetainGraph) {
  TinyMlp m;
  std::vector<std::weak_ptr<Node>> nodes;
  {
    Tensor l = m.loss();
    nodes = graph_nodes({l});
    l.backward({}, /*retain_graph=*/true);
    l.backward();
    EXPECT_EQ(alive(nodes), nodes.size());  // l still holds its graph
  }
  EXPECT_EQ(alive(nodes), 0u);
  for (const Tensor& p : m.params()) {
    EXPECT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().grad_fn(), nullptr);  // .grad holds no graph
  }
}

TEST(NoLeaks, HooksAndRetainGradHoldNoCycles) {
  TinyMlp m;
  std::vector<std::weak_ptr<Node>> nodes;
  std::weak_ptr<TensorImpl> hidden;
  {
    Tensor h = tanh(matmul(m.x, m.w1) + m.b1);
    h.retain_grad();
    h.register_hook([h_copy = std::weak_ptr<TensorImpl>(h.impl_ptr())](const Tensor& g) { return g * 1.0; });
    m.w1.register_hook([](const Tensor& g) { return g; });
    hidden = h.impl_ptr();
    Tensor l = matmul(h, m.w2).sum();
    nodes = graph_nodes({l});
    l.backward();
  }
  EXPECT_EQ(alive(nodes), 0u);
  EXPECT_TRUE(hidden.expired());
}

TEST(NoLeaks, DoubleBackwardGraphsAreFreed) {
  TinyMlp m;
  std::vector<std::weak_ptr<Node>> nodes;
  {
    Tensor l = m.loss();
    TensorList g = autograd::grad({l}, m.params(), {}, std::nullopt, /*create_graph=*/true);
    Tensor penalty = g[0].pow(2).sum() + g[2].pow(2).sum();
    nodes = graph_nodes({penalty});
    ASSERT_GT(nodes.size(), 20u);
    penalty.backward();
  }
  EXPECT_EQ(alive(nodes), 0u);
  // backward(create_graph=true) makes .grad hold a graph that leads back to the parameter (PyTorch warns
  // about this cycle); resetting .grad breaks it.
  WarningHandler previous = set_warning_handler([](const std::string&) {});
  {
    Tensor l = m.loss();
    nodes = graph_nodes({l});
    l.backward({}, std::nullopt, /*create_graph=*/true);
  }
  set_warning_handler(previous);
  EXPECT_GT(alive(nodes), 0u);
  for (Tensor p : m.params()) p.set_grad(Tensor());
  EXPECT_EQ(alive(nodes), 0u);
}

TEST(NoLeaks, TrainingKeepsResidentMemoryFlat) {
  TinyMlp m;
  const double first_loss = m.step(0.05);
  for (int i = 0; i < 300; ++i) m.step(0.05);  // warm-up: allocator pools, caches
  const int64_t warm = resident_bytes();
  double last_loss = 0;
  for (int i = 0; i < 2000; ++i) last_loss = m.step(0.05);
  const int64_t growth = resident_bytes() - warm;
  EXPECT_LT(last_loss, 0.5 * first_loss);  // it did train
  // One step allocates ~30 KB of tensors and nodes: a leak of even one node per step would show as
  // more than the 256 KB allowed here.
  EXPECT_LT(growth, 256 * 1024) << "resident memory grew by " << growth << " bytes over 2000 steps";
  RecordProperty("rss_growth_bytes", std::to_string(growth));

  // The measurement does see a leak: keeping each step's graph alive (as a leaking graph would) grows it.
  std::vector<Tensor> kept;
  const int64_t before = resident_bytes();
  for (int i = 0; i < 500; ++i) kept.push_back(m.loss());
  EXPECT_GT(resident_bytes() - before, 256 * 1024);
}

TEST(NoLeaks, TrainingWithAGradientPenaltyKeepsResidentMemoryFlat) {
  TinyMlp m;
  auto step = [&] {
    Tensor l = m.loss();
    TensorList g = autograd::grad({l}, m.params(), {}, std::nullopt, true);
    Tensor total = l + 0.01 * (g[0].pow(2).sum() + g[2].pow(2).sum());
    for (Tensor p : m.params()) p.set_grad(Tensor());
    total.backward();
    NoGradGuard no_grad;
    for (Tensor p : m.params()) p.sub_(p.grad(), 0.05);
  };
  for (int i = 0; i < 300; ++i) step();
  const int64_t warm = resident_bytes();
  for (int i = 0; i < 1500; ++i) step();
  const int64_t growth = resident_bytes() - warm;
  EXPECT_LT(growth, 256 * 1024) << "resident memory grew by " << growth << " bytes over 1500 steps";
}
