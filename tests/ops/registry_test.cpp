// Runs every registered op through the same checks, in the spirit of PyTorch's OpInfo tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "graft/autograd/gradcheck.h"
#include "graft/ops/backend.h"
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;

namespace {

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const OpInfo& op : registry()) names.push_back(op.name);
  return names;
}

// Floating inputs require grad, except those the sample marks constant.
TensorList prepare(const Sample& s) {
  TensorList in;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    Tensor t = s.inputs[i].defined() ? s.inputs[i].detach().clone() : Tensor();
    bool constant = std::find(s.constant.begin(), s.constant.end(), i) != s.constant.end();
    if (t.defined() && is_floating(t.dtype()) && !constant) t.requires_grad_(true);
    in.push_back(t);
  }
  return in;
}

class OpTest : public ::testing::TestWithParam<std::string> {
 protected:
  const OpInfo& op() const { return *find_op(GetParam()); }
};

TEST_P(OpTest, HasSamples) { EXPECT_FALSE(op().samples(kFloat64).empty()) << op().name; }

TEST_P(OpTest, GradcheckInFloat64) {
  if (!op().differentiable) GTEST_SKIP() << "not differentiable";
  autograd::GradcheckOptions opt;
  opt.atol = op().atol;
  opt.rtol = op().rtol;
  for (const Sample& s : op().samples(kFloat64)) {
    SCOPED_TRACE(op().name + ": " + s.description);
    EXPECT_NO_THROW(autograd::gradcheck(s.fn, prepare(s), opt));
  }
}

TEST_P(OpTest, GradgradcheckInFloat64) {
  if (!op().differentiable || !op().twice_differentiable) GTEST_SKIP() << "not twice differentiable";
  autograd::GradcheckOptions opt;
  opt.atol = op().atol;
  opt.rtol = op().rtol;
  for (const Sample& s : op().samples(kFloat64)) {
    SCOPED_TRACE(op().name + ": " + s.description);
    EXPECT_NO_THROW(autograd::gradgradcheck(s.fn, prepare(s), {}, opt));
  }
}

// The same samples in float32 give the float64 values (to float32 precision).
TEST_P(OpTest, Float32AgreesWithFloat64) {
  auto s64 = op().samples(kFloat64);
  auto s32 = op().samples(kFloat32);
  ASSERT_EQ(s32.size(), s64.size());
  for (size_t k = 0; k < s64.size(); ++k) {
    SCOPED_TRACE(op().name + ": " + s64[k].description);
    TensorList o64 = s64[k].fn(s64[k].inputs), o32 = s32[k].fn(s32[k].inputs);
    ASSERT_EQ(o32.size(), o64.size());
    for (size_t i = 0; i < o64.size(); ++i) {
      if (!o64[i].defined()) continue;
      ASSERT_EQ(o32[i].shape(), o64[i].shape());
      EXPECT_TRUE(allclose(o32[i].to(kFloat64), o64[i].to(kFloat64), op().f32_rtol, op().f32_atol, true))
          << "float32: " << o32[i] << "\nfloat64: " << o64[i];
    }
  }
}

// The fast kernels (oneDNN) and the reference loops agree on outputs and gradients in float32.
TEST_P(OpTest, ReferenceKernelsAgree) {
  for (const Sample& s : op().samples(kFloat32)) {
    SCOPED_TRACE(op().name + ": " + s.description);
    auto run = [&](bool reference) {
      ReferenceKernelsGuard guard(reference);
      TensorList in = op().differentiable ? prepare(s) : s.inputs;
      TensorList out = s.fn(in);
      TensorList result = out;
      if (op().differentiable) {
        TensorList roots, wrt;
        for (const Tensor& o : out)
          if (o.defined() && o.requires_grad()) roots.push_back(o);
        for (const Tensor& t : in)
          if (t.defined() && t.requires_grad()) wrt.push_back(t);
        if (!roots.empty()) {
          TensorList seeds;
          for (const Tensor& r : roots) seeds.push_back(uniform(r.shape(), r.dtype(), -1, 1, 99));
          for (const Tensor& g : autograd::grad(roots, wrt, seeds, false, false, true)) result.push_back(g);
        }
      }
      return result;
    };
    TensorList fast = run(false), ref = run(true);
    ASSERT_EQ(fast.size(), ref.size());
    for (size_t i = 0; i < fast.size(); ++i) {
      if (!fast[i].defined() || !ref[i].defined()) {
        EXPECT_EQ(fast[i].defined(), ref[i].defined());
        continue;
      }
      EXPECT_TRUE(allclose(fast[i].to(kFloat64), ref[i].to(kFloat64), 1e-4, 1e-5, true))
          << "fast: " << fast[i] << "\nreference: " << ref[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpTest, ::testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

// The names of the functions declared in ops/*.h that return tensors: the public ops.
std::set<std::string> declared_ops() {
  namespace fs = std::filesystem;
  static const std::vector<std::string> return_types = {"Tensor ", "TensorList ", "std::vector<Tensor> ",
                                                        "std::tuple<Tensor, Tensor> ",
                                                        "std::tuple<Tensor, Tensor, Tensor> "};
  std::set<std::string> declared;
  for (const auto& entry : fs::directory_iterator(fs::path(GRAFT_SOURCE_DIR) / "ops")) {
    if (entry.path().extension() != ".h") continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find_first_not_of(' ');
      if (at == std::string::npos) continue;
      if (line.compare(at, 7, "inline ") == 0) at += 7;
      for (const std::string& type : return_types) {
        if (line.compare(at, type.size(), type) != 0) continue;
        size_t begin = at + type.size(), end = begin;
        while (end < line.size() && (std::isalnum(static_cast<unsigned char>(line[end])) || line[end] == '_')) ++end;
        if (end > begin && end < line.size() && line[end] == '(') declared.insert(line.substr(begin, end - begin));
      }
    }
  }
  return declared;
}

// Every function declared in the public op headers (ops/*.h) has a registry entry, and vice versa.
TEST(OpRegistry, EveryPublicOpIsRegistered) {
  std::set<std::string> declared = declared_ops();
  ASSERT_GT(declared.size(), 50u);
  for (const std::string& name : declared) EXPECT_NE(find_op(name), nullptr) << "no registry entry for op '" << name << "'";
  for (const OpInfo& op : registry()) EXPECT_TRUE(declared.count(op.name)) << "registered op '" << op.name << "' is not declared";
}

// The README's op list names every registered op, so it cannot fall behind the code.
TEST(OpRegistry, EveryOpIsListedInTheReadme) {
  std::ifstream in(std::string(GRAFT_SOURCE_DIR) + "/README.md");
  std::string readme((std::istreambuf_iterator<char>(in)), {});
  size_t begin = readme.find("### Ops");
  ASSERT_NE(begin, std::string::npos) << "README.md has no '### Ops' section";
  size_t end = readme.find("\n## ", begin);
  std::string section = readme.substr(begin, end - begin);
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (const OpInfo& op : registry()) {
    bool found = false;
    for (size_t at = section.find(op.name); at != std::string::npos && !found; at = section.find(op.name, at + 1))
      found = (at == 0 || !is_word(section[at - 1])) &&
              (at + op.name.size() >= section.size() || !is_word(section[at + op.name.size()]));
    EXPECT_TRUE(found) << "op '" << op.name << "' is missing from the README's op list";
  }
}

TEST(OpRegistry, NamesAreUnique) {
  std::set<std::string> seen;
  for (const OpInfo& op : registry()) EXPECT_TRUE(seen.insert(op.name).second) << "duplicate entry " << op.name;
}

}  // namespace
