#pragma once
// graft::Error is what every misuse raises: the message names the op, the argument and the shapes or values.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace graft {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace graft

// GRAFT_CHECK(cond, "fmt {}", args...) throws graft::Error with the formatted message when cond is false.
#define GRAFT_CHECK(cond, ...)                                   \
  do {                                                           \
    if (!(cond)) [[unlikely]]                                    \
      throw ::graft::Error(::fmt::format(__VA_ARGS__));          \
  } while (0)

#define GRAFT_FAIL(...) throw ::graft::Error(::fmt::format(__VA_ARGS__))
