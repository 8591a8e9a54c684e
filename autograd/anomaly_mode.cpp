#include "graft/autograd/anomaly_mode.h"

#include <cxxabi.h>
#include <execinfo.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "graft/autograd/function.h"

namespace graft::autograd {

namespace detail {
std::atomic<bool> anomaly_enabled{false};
std::atomic<bool> anomaly_check_nan{true};
}  // namespace detail

void set_detect_anomaly(bool mode, bool check_nan) {
  detail::anomaly_check_nan.store(check_nan);
  detail::anomaly_enabled.store(mode);
}

detect_anomaly::detect_anomaly(bool check_nan)
    : previous_mode_(detail::anomaly_enabled.load()), previous_check_nan_(detail::anomaly_check_nan.load()) {
  set_detect_anomaly(true, check_nan);
}

detect_anomaly::~detect_anomaly() { set_detect_anomaly(previous_mode_, previous_check_nan_); }

std::unique_ptr<ForwardTrace> capture_forward_trace(const char* function, const char* file, int line) {
  auto trace = std::make_unique<ForwardTrace>();
  trace->function = function;
  trace->file = file;
  trace->line = line;
  trace->stack.resize(32);
  const int depth = ::backtrace(trace->stack.data(), static_cast<int>(trace->stack.size()));
  trace->stack.resize(static_cast<size_t>(std::max(depth, 0)));
  return trace;
}

namespace {

// "ops/pointwise.cpp" from "/any/where/ops/pointwise.cpp": the package and the file.
std::string short_path(const char* file) {
  std::string path(file);
  const size_t last = path.rfind('/');
  if (last == std::string::npos || last == 0) return path;
  const size_t before = path.rfind('/', last - 1);
  return before == std::string::npos ? path : path.substr(before + 1);
}

// One frame of backtrace_symbols ("binary(mangled+0x12) [0x...]") with the name demangled.
std::string readable_frame(const char* frame) {
  std::string text(frame);
  const size_t open = text.find('('), plus = text.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus == open + 1) return text;
  const std::string mangled = text.substr(open + 1, plus - open - 1);
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? text.substr(0, open + 1) + name.get() + text.substr(plus) : text;
}

}  // namespace

std::string describe_forward_trace(const ForwardTrace& trace) {
  std::string out = fmt::format("the forward op {} ({}:{})", trace.function, short_path(trace.file), trace.line);
  if (trace.stack.empty()) return out;
  out += ", called from:";
  std::unique_ptr<char*, void (*)(void*)> frames(
      ::backtrace_symbols(trace.stack.data(), static_cast<int>(trace.stack.size())), std::free);
  // The first frames are capture_forward_trace and make_node's caller, already named above.
  for (size_t i = 1; i < trace.stack.size(); ++i)
    out += fmt::format("\n  #{} {}", i - 1, frames ? readable_frame(frames.get()[i]) : fmt::format("{}", trace.stack[i]));
  return out;
}

}  // namespace graft::autograd
