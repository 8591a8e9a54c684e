// float16 and bfloat16 weights in safetensors files (F16, BF16): PyTorch's file loads bit for bit, graft
// writes it back byte for byte, and a 16-bit checkpoint goes into a float32 model only when asked to convert
// (tests/reference/half_safetensors.py).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;
namespace fs = std::filesystem;

namespace {

const std::string kRef = std::string(GRAFT_SOURCE_DIR) + "/tests/reference/";
const std::string kFile = kRef + "half_safetensors.safetensors";

const nlohmann::json& reference() {
  static const nlohmann::json ref = [] {
    std::ifstream f(kRef + "half_safetensors.json");
    return nlohmann::json::parse(f);
  }();
  return ref;
}

std::shared_ptr<nn::Sequential> pytorch_shaped_model() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(5, 4), std::make_shared<nn::Linear>(4, 3, false), std::make_shared<nn::Linear>(3, 2)});
}

std::vector<uint16_t> bits_of(const Tensor& t) {
  Tensor c = t.contiguous();
  std::vector<uint16_t> out(static_cast<size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The entries of `state` whose names start with "<prefix>.", without the prefix and the special values.
nn::StateDict weights_of(const nn::StateDict& state, const std::string& prefix) {
  nn::StateDict out;
  for (const auto& [name, t] : state)
    if (name.rfind(prefix + ".", 0) == 0 && name != prefix + ".specials") out.emplace_back(name.substr(prefix.size() + 1), t);
  return out;
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("graft-half-st-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

TEST(HalfSafetensors, PyTorchsF16AndBf16TensorsLoadBitForBit) {
  const nn::StateDict state = nn::load_safetensors(kFile);
  ASSERT_EQ(state.size(), reference()["tensors"].size());
  for (const auto& [name, t] : state) {
    SCOPED_TRACE(name);
    const auto& want = reference()["tensors"][name];
    EXPECT_EQ(t.dtype(), name.rfind("bf16.", 0) == 0 ? kBFloat16 : kFloat16);
    EXPECT_EQ(std::vector<int64_t>(t.shape().begin(), t.shape().end()), want["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(bits_of(t), want["bits"].get<std::vector<uint16_t>>()) << "NaN payloads, infinities and subnormals included";
  }
}

TEST(HalfSafetensors, GraftWritesPyTorchsFileByteForByte) {
  std::map<std::string, std::string> meta;
  const nn::StateDict state = nn::load_safetensors(kFile, &meta);
  const fs::path out = temp_file("again.safetensors");
  nn::save_safetensors(state, out.string(), meta);
  const std::string ours = read_bytes(out), theirs = read_bytes(kFile);
  fs::remove(out);
  auto split = [](const std::string& bytes) {
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    return std::make_pair(nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n));
  };
  auto [h1, d1] = split(ours);
  auto [h2, d2] = split(theirs);
  EXPECT_EQ(h1, h2) << "the same dtypes (F16, BF16), shapes and offsets";
  EXPECT_EQ(d1, d2) << "the same data bytes";
}

TEST(HalfSafetensors, AHalfCheckpointLoadsIntoAFloat32ModelOnlyWhenAskedToConvert) {
  for (const std::string prefix : {"f16", "bf16"}) {
    SCOPED_TRACE(prefix);
    const nn::StateDict all = nn::load_safetensors(kFile);
    const fs::path path = temp_file(prefix + ".safetensors");
    nn::save_safetensors(weights_of(all, prefix), path.string());

    auto model = pytorch_shaped_model();
    const Tensor before = model->parameters()[0].detach().clone();
    const std::string what = error_of([&] { nn::load(*model, path.string()); });
    EXPECT_NE(what.find("'0.weight' is " + std::string(prefix == "f16" ? "float16" : "bfloat16") +
                        " in the file and float32 in the model"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("convert_dtype"), std::string::npos) << what;
    EXPECT_TRUE(equal(model->parameters()[0], before)) << "a refused load leaves the model unchanged";

    nn::load(*model, path.string(), nn::LoadOptions{.convert_dtype = true});
    fs::remove(path);
    for (const auto& [name, t] : model->named_parameters()) EXPECT_EQ(t.dtype(), kFloat32) << name;
    const auto& ref = reference();
    Tensor x = tensor(ref["input"].get<std::vector<double>>(), ref["input_shape"].get<std::vector<int64_t>>());
    Tensor expected = tensor(ref["outputs"][prefix].get<std::vector<double>>(), ref["output_shape"].get<std::vector<int64_t>>());
    EXPECT_TRUE(allclose((*model)(x), expected, 1e-5, 1e-6)) << "PyTorch's output after load_state_dict converts";
  }
}

TEST(HalfSafetensors, HalfModulesRoundTrip) {
  auto a = pytorch_shaped_model(), b = pytorch_shaped_model();
  a->to(kBFloat16);
  b->to(kBFloat16);
  const fs::path path = temp_file("module.safetensors");
  nn::save(*a, path.string());
  nn::load(*b, path.string());
  fs::remove(path);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pb[i].second.dtype(), kBFloat16);
    EXPECT_EQ(bits_of(pa[i].second), bits_of(pb[i].second)) << pa[i].first;
  }
}
