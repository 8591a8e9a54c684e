#pragma once
// Checking the graft::Error a call raises: its exact message, or fragments of it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graft/graph/error.h"

namespace graft::testing {

// The message of the graft::Error that f() raises, or "(no error)" when it raises none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Fails the test unless f() raises a graft::Error whose message contains every fragment.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  const std::string what = error_of(f);
  for (const auto& frag : fragments) EXPECT_NE(what.find(frag), std::string::npos) << "'" << frag << "' not in: " << what;
}

}  // namespace graft::testing
