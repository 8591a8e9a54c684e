// Runs every registered op through the same checks, in the spirit of PyTorch's OpInfo tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <cmath>
#include <fstream>
#include <set>

#include "graft/autograd/gradcheck.h"
#include "graft/ops/backend.h"
#include "support/errors.h"
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

// The profiler sees every op under the op's own name, with its tensor inputs' shapes.
TEST_P(OpTest, IsRecordedByTheProfilerUnderItsName) {
  for (const Sample& s : op().samples(kFloat32)) {
    SCOPED_TRACE(op().name + ": " + s.description);
    const TensorList in = prepare(s);
    profiler::profile prof({.record_shapes = true});
    s.fn(in);
    prof.stop();
    const auto& events = prof.events();
    auto it = std::find_if(events.begin(), events.end(), [&](const auto& e) { return e.name == op().name; });
    ASSERT_NE(it, events.end()) << "no profiler event named '" << op().name << "'";
    EXPECT_EQ(it->kind, profiler::EventKind::Op);
  }
}

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

// ---- bfloat16 and float16 against float32 ----

// The sample's floating inputs in `dtype` (the others as they are).
TensorList inputs_in(const Sample& s, DType dtype) {
  TensorList in;
  for (const Tensor& t : s.inputs) in.push_back(t.defined() && is_floating(t.dtype()) ? t.detach().to(dtype) : t);
  return in;
}

// Runs the op on `in` (floating inputs made to require grad unless constant, when the op is differentiable)
// and returns its outputs followed by the gradients of its floating outputs, seeded with the same values in
// every dtype (bfloat16 numbers, which float16 and float32 hold exactly).
TensorList outputs_and_gradients(const OpInfo& op, const Sample& s, const TensorList& in_values) {
  Sample prepared = s;
  prepared.inputs = in_values;
  TensorList in = op.differentiable ? prepare(prepared) : in_values;
  TensorList result = s.fn(in);
  if (!op.differentiable) return result;
  TensorList roots, wrt, seeds;
  for (const Tensor& o : result)
    if (o.defined() && o.requires_grad()) roots.push_back(o);
  for (const Tensor& t : in)
    if (t.defined() && t.requires_grad()) wrt.push_back(t);
  if (roots.empty()) return result;
  for (const Tensor& r : roots) seeds.push_back(uniform(r.shape(), kBFloat16, -1, 1, 99).to(r.dtype()));
  for (const Tensor& g : autograd::grad(roots, wrt, seeds, false, false, true)) result.push_back(g);
  return result;
}

// PyTorch's default tolerances for the dtype (torch.testing.assert_close: bfloat16 rtol 1.6e-2, float16
// rtol 1e-3), with an absolute tolerance of the same size for values near 0 after cancellation.
double half_tolerance(DType dt) { return dt == kBFloat16 ? 1.6e-2 : 1e-3; }

TEST_P(OpTest, HalfPrecisionAgreesWithFloat32) {
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    for (const Sample& s : op().samples(kFloat32)) {
      SCOPED_TRACE(op().name + ": " + s.description);
      if (!s.half) continue;
      TensorList in16 = inputs_in(s, dt);
      bool has_half_input = false;
      for (const Tensor& t : in16) has_half_input = has_half_input || (t.defined() && t.dtype() == dt);
      if (!op().half) {
        if (!has_half_input) continue;
        const std::string what = error_of([&] { outputs_and_gradients(op(), s, in16); });
        EXPECT_NE(what.find(op().name), std::string::npos) << "the error should name the op: " << what;
        EXPECT_NE(what.find(dtype_name(dt)), std::string::npos) << "the error should name the dtype: " << what;
        continue;
      }
      // float32 runs on exactly the values the 16-bit run sees.
      TensorList in32;
      for (const Tensor& t : in16) in32.push_back(t.defined() && t.dtype() == dt ? t.to(kFloat32) : t);
      TensorList o16 = outputs_and_gradients(op(), s, in16), o32 = outputs_and_gradients(op(), s, in32);
      ASSERT_EQ(o16.size(), o32.size());
      const double tol = half_tolerance(dt) * op().half_tolerance;
      for (size_t i = 0; i < o16.size(); ++i) {
        if (!o16[i].defined() || !o32[i].defined()) {
          EXPECT_EQ(o16[i].defined(), o32[i].defined());
          continue;
        }
        ASSERT_EQ(o16[i].shape(), o32[i].shape());
        if (has_half_input && o32[i].dtype() == kFloat32) {
          EXPECT_EQ(o16[i].dtype(), dt) << "result " << i << " should stay in " << dtype_name(dt);
        }
        if (!is_floating(o32[i].dtype())) {
          EXPECT_TRUE(equal(o16[i], o32[i])) << "result " << i << "\n16-bit: " << o16[i] << "\nfloat32: " << o32[i];
          continue;
        }
        EXPECT_TRUE(allclose(o16[i].to(kFloat64), o32[i].to(kFloat64), tol, tol, true))
            << "result " << i << "\n" << dtype_name(dt) << ": " << o16[i].to(kFloat32) << "\nfloat32: " << o32[i];
      }
    }
  }
}

// Outputs and gradients (for seeds drawn once, in float32) of a sample, with the fast kernels or the reference
// loops; float64 samples always run the loops.
TensorList fast_or_reference_results(const OpInfo& op, const Sample& s, bool reference) {
  ReferenceKernelsGuard guard(reference);
  TensorList in = op.differentiable ? prepare(s) : s.inputs;
  TensorList out = s.fn(in);
  TensorList result = out;
  if (op.differentiable) {
    TensorList roots, wrt, seeds;
    for (const Tensor& o : out)
      if (o.defined() && o.requires_grad()) roots.push_back(o);
    for (const Tensor& t : in)
      if (t.defined() && t.requires_grad()) wrt.push_back(t);
    if (!roots.empty()) {
      for (const Tensor& r : roots) seeds.push_back(uniform(r.shape(), kFloat32, -1, 1, 99).to(r.dtype()));
      for (const Tensor& g : autograd::grad(roots, wrt, seeds, false, false, true)) result.push_back(g);
    }
  }
  return result;
}

// The largest |a - exact| over the finite entries of exact; infinite when a and exact disagree on an entry
// that is not finite.
double max_error(const Tensor& a, const Tensor& exact) {
  const std::vector<double> x = a.to_vector<double>(), e = exact.to_vector<double>();
  double err = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(e[i])) {
      if (!(std::isnan(e[i]) ? std::isnan(x[i]) : x[i] == e[i])) return std::numeric_limits<double>::infinity();
      continue;
    }
    err = std::max(err, std::abs(x[i] - e[i]));
  }
  return err;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>())
    if (std::isfinite(v)) m = std::max(m, std::abs(v));
  return m;
}

// The fast kernels (oneDNN) and the reference loops agree in float32, and the fast ones are about as accurate:
// against the float64 result on the same inputs, the fast path's largest error on every output and gradient
// is at most twice the loops' plus two float32 ulps of the largest value (the loops may be exact where the
// fast path rounds once). This is what keeps float32 log_softmax's backward off oneDNN: there it is about 10x
// less accurate than the loops and PyTorch at >= 1024 elements.
TEST_P(OpTest, FastKernelsAgreeWithTheReferenceLoopsAndAreAsAccurate) {
  const std::vector<Sample> s32 = op().samples(kFloat32), s64 = op().samples(kFloat64);
  ASSERT_EQ(s32.size(), s64.size());
  for (size_t k = 0; k < s32.size(); ++k) {
    SCOPED_TRACE(op().name + ": " + s32[k].description);
    const TensorList fast = fast_or_reference_results(op(), s32[k], false);
    const TensorList ref = fast_or_reference_results(op(), s32[k], true);
    // The exact values: float64 on the float32 inputs (so that rounding the inputs is not counted as an error).
    Sample widened = s64[k];
    for (size_t i = 0; i < widened.inputs.size(); ++i)
      if (s32[k].inputs[i].defined() && s32[k].inputs[i].dtype() == kFloat32)
        widened.inputs[i] = s32[k].inputs[i].to(kFloat64);
    const TensorList exact = fast_or_reference_results(op(), widened, false);
    ASSERT_EQ(fast.size(), ref.size());
    ASSERT_EQ(exact.size(), ref.size());
    for (size_t i = 0; i < fast.size(); ++i) {
      if (!fast[i].defined() || !ref[i].defined()) {
        EXPECT_EQ(fast[i].defined(), ref[i].defined());
        continue;
      }
      EXPECT_TRUE(allclose(fast[i].to(kFloat64), ref[i].to(kFloat64), 1e-4, 1e-5, true))
          << "fast: " << fast[i] << "\nreference: " << ref[i];
      if (fast[i].dtype() != kFloat32 || !exact[i].defined()) continue;
      const double err_fast = max_error(fast[i], exact[i]), err_ref = max_error(ref[i], exact[i]);
      const double bound = 2 * err_ref + 2 * std::numeric_limits<float>::epsilon() * max_abs(exact[i]);
      EXPECT_LE(err_fast, bound) << "result " << i << ": the fast path's error " << err_fast
                                 << " exceeds the reference loops' " << err_ref;
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
