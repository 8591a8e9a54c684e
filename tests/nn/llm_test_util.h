#pragma once
// Helpers shared by the language-model module tests (attention family, caches, blocks, TransformerLM).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "graft/graft.h"
#include "graft/nn/nn.h"

namespace graft::llm_test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  return (a.to(kFloat64) - b.to(kFloat64)).abs().max().item<double>();
}

inline std::vector<std::string> names(const nn::StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [name, t] : sd) out.push_back(name);
  return out;
}

// Feeds x (B, T, ...) along dim 1 in chunks: first `prefill` tokens, then the chunk sizes in `steps`
// repeated until the sequence ends. Calls step(chunk) and concatenates the results along dim 1.
template <class Step>
Tensor run_in_chunks(const Tensor& x, int64_t prefill, const std::vector<int64_t>& steps, Step step) {
  std::vector<Tensor> outs;
  const int64_t T = x.size(1);
  int64_t at = 0;
  size_t k = 0;
  while (at < T) {
    int64_t n = at == 0 && prefill > 0 ? prefill : steps[k++ % steps.size()];
    n = std::min(n, T - at);
    outs.push_back(step(x.narrow(1, at, n)));
    at += n;
  }
  return cat(outs, 1);
}

// Expects `fn` to throw a graft::Error whose message contains `needle`.
template <class F>
void expect_error(F fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

}  // namespace graft::llm_test
