// The profiler (torch.autograd.profiler.profile): what it records while alive, how events nest, the
// key_averages table, and the Chrome trace.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/temp_dir.h"

using namespace graft;
using graft::testing::error_of;
namespace F = graft::nn::functional;

namespace {

std::vector<const profiler::FunctionEvent*> named(const profiler::profile& prof, const std::string& name) {
  std::vector<const profiler::FunctionEvent*> out;
  for (const auto& e : prof.events())
    if (e.name == name) out.push_back(&e);
  return out;
}

const profiler::FunctionEvent& only(const profiler::profile& prof, const std::string& name) {
  auto events = named(prof, name);
  if (events.size() != 1) throw std::runtime_error(fmt::format("{} events named {}", events.size(), name));
  return *events[0];
}

bool inside(const profiler::FunctionEvent& child, const profiler::FunctionEvent& parent) {
  return child.thread == parent.thread && child.start_us >= parent.start_us &&
         child.start_us + child.cpu_time_total_us <= parent.start_us + parent.cpu_time_total_us + 1e-3;
}

TEST(Profiler, RecordsNothingWhenNoProfileIsAlive) {
  EXPECT_FALSE(profiler::is_profiler_enabled());
  Tensor x = ones({3});
  (x + x).sum();
  profiler::profile prof;
  EXPECT_TRUE(profiler::is_profiler_enabled());
  prof.stop();
  EXPECT_FALSE(profiler::is_profiler_enabled());
  EXPECT_TRUE(prof.events().empty());
}

TEST(Profiler, RecordsEveryForwardOpWithItsNameInCallOrder) {
  Tensor x = ones({4}), y = full({4}, 2.0);
  profiler::profile prof;
  Tensor z = F::relu(x * y).sum();
  prof.stop();
  // The ops called here are the outermost events; ops they call internally (sum reshapes) nest inside them.
  std::vector<std::string> outermost;
  for (const auto& e : prof.events()) {
    if (e.depth == 0) outermost.push_back(e.name);
    EXPECT_EQ(e.kind, profiler::EventKind::Op);
    EXPECT_GE(e.cpu_time_total_us, e.self_cpu_time_total_us);
    EXPECT_GE(e.start_us, 0.0);
  }
  EXPECT_EQ(outermost, (std::vector<std::string>{"mul", "relu", "sum"}));
}

TEST(Profiler, NestedEventsAreChildrenAndTheirTimeIsNotTheParentsSelfTime) {
  Tensor x = randn({64, 64});
  profiler::profile prof;
  {
    profiler::record_function outer("outer");
    Tensor a = x.matmul(x);
    Tensor b = F::softmax(a, -1);
  }
  prof.stop();
  const auto& outer = only(prof, "outer");
  EXPECT_EQ(outer.kind, profiler::EventKind::UserScope);
  EXPECT_EQ(outer.depth, 0u);
  double children = 0;
  for (const char* name : {"matmul", "softmax"}) {
    const auto& child = only(prof, name);
    EXPECT_EQ(child.depth, 1u) << name;
    EXPECT_TRUE(inside(child, outer)) << name;
    children += child.cpu_time_total_us;
  }
  EXPECT_NEAR(outer.self_cpu_time_total_us, outer.cpu_time_total_us - children, 1e-6);
  // Events are ordered by start; a parent comes before its children.
  EXPECT_EQ(prof.events().front().name, "outer");
}

TEST(Profiler, BackwardNodesAreRecordedWithTheOpsTheirFormulasRun) {
  Tensor x = ones({3}, requires_grad()), y = full({3}, 2.0, requires_grad());
  Tensor loss = (x * y).sum();
  profiler::profile prof;
  loss.backward();
  prof.stop();
  const auto& mul_backward = only(prof, "MulBackward0");
  EXPECT_EQ(mul_backward.kind, profiler::EventKind::Backward);
  EXPECT_EQ(only(prof, "SumBackward0").kind, profiler::EventKind::Backward);
  EXPECT_EQ(named(prof, "AccumulateGrad").size(), 2u);
  // MulBackward0 computes g * y and g * x with mul: those run inside it.
  auto muls = named(prof, "mul");
  ASSERT_EQ(muls.size(), 2u);
  for (const auto* m : muls) {
    EXPECT_TRUE(inside(*m, mul_backward));
    EXPECT_EQ(m->depth, mul_backward.depth + 1);
  }
}

TEST(Profiler, RecordShapesKeepsEachTensorInputsShape) {
  Tensor a = ones({2, 3}), b = ones({3, 4});
  {
    profiler::profile prof;
    a.matmul(b);
    prof.stop();
    EXPECT_TRUE(only(prof, "matmul").input_shapes.empty());  // off by default, as in PyTorch
  }
  profiler::profile prof({.record_shapes = true});
  a.matmul(b);
  F::linear(a, ones({5, 3}));  // the optional bias is absent: an empty shape
  prof.stop();
  EXPECT_EQ(only(prof, "matmul").input_shapes, (std::vector<Shape>{{2, 3}, {3, 4}}));
  EXPECT_EQ(only(prof, "linear").input_shapes, (std::vector<Shape>{{2, 3}, {5, 3}, {}}));
}

TEST(Profiler, MemoryIsTheNetAllocatedDuringTheEventAndSelfMemoryExcludesChildren) {
  Tensor x = ones({256});
  profiler::profile prof({.profile_memory = true});
  Tensor kept;
  {
    profiler::record_function scope("scope");
    kept = x + x;             // 1 KiB that outlives the scope
    Tensor temporary = x * x;  // 1 KiB freed when the scope ends
  }
  prof.stop();
  EXPECT_EQ(only(prof, "add").cpu_memory_usage, 256 * 4);
  EXPECT_EQ(only(prof, "mul").cpu_memory_usage, 256 * 4);
  const auto& scope = only(prof, "scope");
  EXPECT_EQ(scope.cpu_memory_usage, 256 * 4);           // the temporary was freed inside the scope
  EXPECT_EQ(scope.self_cpu_memory_usage, -256 * 4);     // ...which is the scope's own doing
}

TEST(Profiler, KeyAveragesSumsEventsPerName) {
  Tensor x = ones({8});
  profiler::profile prof;
  for (int i = 0; i < 3; ++i) F::relu(x);
  x.exp();
  prof.stop();
  const profiler::KeyAverages avg = prof.key_averages();
  ASSERT_EQ(avg.rows().size(), 2u);
  const auto* relu = avg.find("relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->count, 3);
  double total = 0;
  for (const auto* e : named(prof, "relu")) total += e->cpu_time_total_us;
  EXPECT_DOUBLE_EQ(relu->cpu_time_total_us, total);
  EXPECT_DOUBLE_EQ(relu->cpu_time_us(), total / 3);
  EXPECT_EQ(avg.find("exp")->count, 1);
  EXPECT_EQ(avg.find("sigmoid"), nullptr);
}

TEST(Profiler, KeyAveragesGroupsByInputShapeWhenShapesWereRecorded) {
  profiler::profile prof({.record_shapes = true});
  F::relu(ones({2}));
  F::relu(ones({2}));
  F::relu(ones({3}));
  prof.stop();
  EXPECT_EQ(prof.key_averages().find("relu")->count, 3);
  const auto grouped = prof.key_averages(/*group_by_input_shape=*/true);
  ASSERT_EQ(grouped.rows().size(), 2u);
  EXPECT_EQ(grouped.rows()[0].count, 2);
  EXPECT_EQ(grouped.rows()[0].input_shapes, (std::vector<Shape>{{2}}));
  EXPECT_EQ(grouped.rows()[1].input_shapes, (std::vector<Shape>{{3}}));

  profiler::profile without;
  without.stop();
  EXPECT_NE(error_of([&] { without.key_averages(true); }).find("group_by_input_shape needs a profile made with record_shapes"),
            std::string::npos);
}

TEST(Profiler, TableHasPyTorchsColumnsSortedAndLimited) {
  Tensor big = randn({128, 128}), small = ones({4});
  profiler::profile prof;
  big.matmul(big);
  for (int i = 0; i < 5; ++i) F::relu(small);
  prof.stop();
  const std::string table = prof.key_averages().table("count");
  for (const char* column : {"Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"})
    EXPECT_NE(table.find(column), std::string::npos) << column;
  EXPECT_EQ(table.find("CPU Mem"), std::string::npos);  // without profile_memory
  EXPECT_NE(table.find("Self CPU time total: "), std::string::npos);
  EXPECT_LT(table.find("relu"), table.find("matmul"));  // 5 calls before 1
  const std::string top = prof.key_averages().table("count", 1);
  EXPECT_EQ(top.find("matmul"), std::string::npos);
  EXPECT_NE(error_of([&] { prof.key_averages().table("cuda_time_total"); })
                .find("sort_by must be empty or one of cpu_time_total"),
            std::string::npos);

  profiler::profile with_memory({.profile_memory = true});
  small.exp();
  with_memory.stop();
  const std::string t = with_memory.table();
  EXPECT_NE(t.find("Self CPU Mem"), std::string::npos);
  EXPECT_NE(t.find("16 b"), std::string::npos);  // PyTorch's memory format
}

TEST(Profiler, ResultsAreReadOnlyAfterStopAndOnlyOneProfileRecordsAtATime) {
  profiler::profile prof;
  EXPECT_NE(error_of([&] { prof.events(); }).find("profile.events: the profile is still recording; call stop() first"),
            std::string::npos);
  EXPECT_NE(error_of([&] { profiler::profile second; }).find("another profile is already recording"), std::string::npos);
  prof.stop();
  prof.stop();  // a second stop does nothing
  profiler::profile second;  // now one may start
  second.stop();
}

TEST(Profiler, ADisabledProfileRecordsNothing) {
  profiler::profile prof({.enabled = false});
  EXPECT_FALSE(profiler::is_profiler_enabled());
  F::relu(ones({2}));
  EXPECT_TRUE(prof.events().empty());
}

TEST(Profiler, EventsStillOpenAtStopAreDropped) {
  auto prof = std::make_unique<profiler::profile>();
  {
    profiler::record_function open("open");
    F::relu(ones({2}));
    prof->stop();
  }
  EXPECT_EQ(prof->events().size(), 1u);
  EXPECT_EQ(prof->events()[0].name, "relu");
  // The scope that outlived its profile does not leak into the next one.
  profiler::profile next;
  next.stop();
  EXPECT_TRUE(next.events().empty());
}

TEST(Profiler, EachThreadIsATrackOfItsOwn) {
  profiler::profile prof;
  F::relu(ones({2}));
  std::thread worker([] {
    profiler::set_thread_name("worker");
    F::relu(ones({2}));
  });
  worker.join();
  prof.stop();
  auto relus = named(prof, "relu");
  ASSERT_EQ(relus.size(), 2u);
  EXPECT_NE(relus[0]->thread, relus[1]->thread);
  std::vector<std::string> names;
  for (const auto& [number, name] : prof.threads()) names.push_back(name);
  EXPECT_NE(std::find(names.begin(), names.end(), "worker"), names.end());
}

TEST(Profiler, ChromeTraceHasAnXEventPerEventAndNamesTheThreads) {
  graft::testing::TempDir dir;
  Tensor x = ones({2, 2}, requires_grad());
  profiler::profile prof({.record_shapes = true});
  x.matmul(x).sum().backward();
  prof.stop();
  const std::string path = dir / "trace.json";
  prof.export_chrome_trace(path);
  std::ifstream in(path);
  const nlohmann::json trace = nlohmann::json::parse(in);
  size_t complete = 0;
  bool thread_named = false;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") thread_named = true;
    if (e.at("ph") != "X") continue;
    ++complete;
    for (const char* field : {"name", "cat", "ts", "dur", "pid", "tid", "args"}) EXPECT_TRUE(e.contains(field)) << field;
    if (e.at("name") == "matmul") {
      EXPECT_EQ(e.at("cat"), "cpu_op");
      EXPECT_EQ(e.at("args").at("Input Dims"), nlohmann::json::parse("[[2,2],[2,2]]"));
    }
    if (e.at("name") == "SumBackward0") {
      EXPECT_EQ(e.at("cat"), "backward");
    }
  }
  EXPECT_EQ(complete, prof.events().size());
  EXPECT_TRUE(thread_named);
}

TEST(Profiler, AFailedExportRaisesNamingTheCall) {
  graft::testing::TempDir dir;
  profiler::profile prof;
  F::relu(ones({2}));
  prof.stop();
  EXPECT_NE(error_of([&] { prof.export_chrome_trace(dir / "missing/trace.json"); }).find("profile.export_chrome_trace"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

}  // namespace
