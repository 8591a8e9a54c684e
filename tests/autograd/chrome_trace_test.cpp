// ChromeTrace: the Chrome trace format the profiler and ZeRO's step-time model both write.
#include "graft/autograd/chrome_trace.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace graft;
using autograd::profiler::ChromeTrace;

TEST(ChromeTrace, NamesTheProcessAndItsTracksAndWritesCompleteEventsWithTheirArgs) {
  ChromeTrace trace(7, "rank 7");
  trace.name_thread(2, "communication");
  trace.add_event("all_gather", "collective", 2, 10.5, 4.25, {{"bytes", 4096}});
  trace.add_event("matmul", "cpu_op", 1, 20, 1, {}, {Shape{2, 3}, Shape{3}});
  const nlohmann::json j = nlohmann::json::parse(trace.dump());
  EXPECT_EQ(j.at("displayTimeUnit"), "ms");
  const auto& events = j.at("traceEvents");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0], (nlohmann::json{{"name", "process_name"}, {"ph", "M"}, {"pid", 7}, {"tid", 0},
                                       {"args", {{"name", "rank 7"}}}}));
  EXPECT_EQ(events[1].at("name"), "thread_name");
  EXPECT_EQ(events[1].at("args").at("name"), "communication");
  EXPECT_EQ(events[2].at("name"), "thread_sort_index");
  EXPECT_EQ(events[2].at("args").at("sort_index"), 2);
  EXPECT_EQ(events[3], (nlohmann::json{{"name", "all_gather"}, {"cat", "collective"}, {"ph", "X"}, {"ts", 10.5},
                                       {"dur", 4.25}, {"pid", 7}, {"tid", 2}, {"args", {{"bytes", 4096}}}}));
  EXPECT_EQ(events[4].at("args"), (nlohmann::json{{"Input Dims", {{2, 3}, {3}}}}));
}

TEST(ChromeTrace, AnEmptyTraceStillNamesItsProcess) {
  const nlohmann::json j = nlohmann::json::parse(ChromeTrace(0, "graft").dump());
  ASSERT_EQ(j.at("traceEvents").size(), 1u);
  EXPECT_EQ(j.at("traceEvents")[0].at("args").at("name"), "graft");
}
