#include "graft/graph/warning.h"

#include <cstdio>
#include <mutex>

namespace graft {

namespace {
std::mutex mutex;
WarningHandler handler;
}  // namespace

void warn(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex);
  if (handler) handler(message);
  else std::fprintf(stderr, "graft warning: %s\n", message.c_str());
}

WarningHandler set_warning_handler(WarningHandler h) {
  std::lock_guard<std::mutex> lock(mutex);
  std::swap(handler, h);
  return h;
}

}  // namespace graft
