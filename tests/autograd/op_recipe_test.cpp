// The "how to write an op" recipe of autograd/function.h and DEVELOPERS.md, compiled and checked: the
// documents quote the block between the markers below, line for line, so they cannot drift from code that
// builds and passes gradcheck.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "graft/autograd/function.h"
#include "graft/autograd/gradcheck.h"
#include "graft/graph/factory.h"
#include "graft/graph/loops.h"
#include "graft/ops/operators.h"

namespace {

using namespace graft;

// [recipe]
Tensor my_tanh(const Tensor& x) {
  Tensor y = empty_tensor(x.shape(), x.dtype());                      // forward: checks, then a kernel
  dispatch_floating(x.dtype(), "my_tanh", [&]<class T>() {
    loops::map1<T, T>(y, x, [](T v) { return std::tanh(v); });
  });
  if (auto node = autograd::make_node("MyTanhBackward0", {x}, [](Node& n, GradList& g) -> GradList {
        Tensor out = n.saved(0);
        return {g[0] * (1 - out * out)};                                // backward, written with ops
      })) {
    autograd::set_history(y, node);
    node->save_output(y);
  }
  return y;
}
// [/recipe]

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string read(const std::string& rel) {
  std::ifstream in(std::string(GRAFT_SOURCE_DIR) + "/" + rel);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// The recipe's lines as this file holds them.
std::vector<std::string> recipe() {
  const std::string self = read("tests/autograd/op_recipe_test.cpp");
  const size_t begin = self.find("// [recipe]\n") + 12, end = self.find("// [/recipe]");
  return lines_of(self.substr(begin, end - begin));
}

// True when `doc` holds the recipe's lines consecutively, each after `prefix`.
bool quotes_recipe(const std::string& doc, const std::string& prefix) {
  const std::vector<std::string> want = recipe(), have = lines_of(doc);
  for (size_t start = 0; start + want.size() <= have.size(); ++start) {
    bool all = true;
    for (size_t i = 0; i < want.size() && all; ++i) {
      std::string expected = want[i].empty() ? prefix.substr(0, prefix.find_last_not_of(' ') + 1) : prefix + want[i];
      all = have[start + i] == expected;
    }
    if (all) return true;
  }
  return false;
}

TEST(OpRecipe, BuildsAndPassesGradcheckAndGradgradcheck) {
  Tensor x = randn({3, 4}, TensorOptions().dtype(kFloat64)).requires_grad_();
  auto f = [](const TensorList& in) { return TensorList{my_tanh(in[0])}; };
  EXPECT_TRUE(autograd::gradcheck(f, {x}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x}));
  EXPECT_STREQ(my_tanh(x).grad_fn()->name(), "MyTanhBackward0");
}

TEST(OpRecipe, IsQuotedVerbatimByTheDocs) {
  ASSERT_GT(recipe().size(), 10u);
  EXPECT_TRUE(quotes_recipe(read("autograd/function.h"), "//   ")) << "autograd/function.h does not quote the recipe";
  EXPECT_TRUE(quotes_recipe(read("DEVELOPERS.md"), "")) << "DEVELOPERS.md does not quote the recipe";
}

}  // namespace
