#pragma once
// Warnings (PyTorch's UserWarning): printed to stderr by default; a handler can capture them, e.g. in tests.
#include <functional>
#include <string>

namespace graft {

using WarningHandler = std::function<void(const std::string&)>;

void warn(const std::string& message);
/// Installs `handler` (empty restores the default) and returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);

}  // namespace graft
