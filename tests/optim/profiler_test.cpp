// The profiler sees optimizer steps under PyTorch's event names.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

namespace {

TEST(OptimizerProfiler, OptimizerStepsAndZeroGradAreEventsNamedAsInPyTorch) {
  Tensor w = ones({3}, requires_grad());
  optim::SGD sgd({w}, optim::SGDOptions(0.1));
  (w * w).sum().backward();
  profiler::profile prof;
  sgd.step();
  sgd.zero_grad();
  prof.stop();
  std::vector<std::string> optimizer_events;
  for (const auto& e : prof.events())
    if (e.kind == profiler::EventKind::Optimizer) optimizer_events.push_back(e.name);
  EXPECT_EQ(optimizer_events, (std::vector<std::string>{"Optimizer.step#SGD.step", "Optimizer.zero_grad#SGD.zero_grad"}));
}

}  // namespace
