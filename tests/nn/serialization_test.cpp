// Weights in the safetensors format: files written by PyTorch load into graft and give PyTorch's outputs;
// graft's files carry the same header and bytes; failed and corrupt files are handled. float16 and bfloat16
// (F16, BF16) load bit for bit and are written back byte for byte, and a 16-bit checkpoint goes into a
// float32 model only when asked to convert (tests/reference/half_safetensors.py).
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

std::shared_ptr<nn::Sequential> pytorch_shaped_model() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(5, 4), std::make_shared<nn::Linear>(4, 3, false), std::make_shared<nn::Linear>(3, 2)});
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A safetensors file's JSON header and its data bytes.
std::pair<nlohmann::json, std::string> header_and_data(const std::string& bytes) {
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return {nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("graft-st-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST(Safetensors, LoadsAPyTorchFileAndReproducesPyTorchsOutput) {
  std::map<std::string, std::string> meta;
  nn::StateDict state = nn::load_safetensors(kRef + "safetensors_model.safetensors", &meta);
  EXPECT_EQ(meta.at("format"), "pt");
  nn::StateDict weights, extras;
  for (auto& [k, t] : state) (k == "counts" || k == "mask" ? extras : weights).emplace_back(k, t);
  EXPECT_EQ(extras[0].second.dtype(), kInt64);
  EXPECT_EQ(extras[0].second.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(extras[1].second.to_vector<bool>(), (std::vector<bool>{true, false, true}));

  auto model = pytorch_shaped_model();
  model->load_state_dict(weights);
  std::ifstream f(kRef + "safetensors_model.json");
  auto ref = nlohmann::json::parse(f);
  Tensor x = tensor(ref["input"].get<std::vector<double>>(), ref["input_shape"].get<std::vector<int64_t>>());
  Tensor expected = tensor(ref["output"].get<std::vector<double>>(), ref["output_shape"].get<std::vector<int64_t>>());
  EXPECT_TRUE(allclose(model->forward(x), expected, 1e-5, 1e-6));
}

TEST_F(TempDir, GraftWritesTheSameHeaderAndBytesAsTheReferenceWriter) {
  // Loading PyTorch's file and saving it again must give a file PyTorch's reader understands: the same
  // JSON header entries (dtypes, shapes, offsets) and the same data bytes.
  std::map<std::string, std::string> meta;
  nn::StateDict state = nn::load_safetensors(kRef + "safetensors_model.safetensors", &meta);
  nn::save_safetensors(state, (dir / "again.safetensors").string(), meta);
  std::string ours = read_bytes(dir / "again.safetensors"), theirs = read_bytes(kRef + "safetensors_model.safetensors");
  auto [h1, d1] = header_and_data(ours);
  auto [h2, d2] = header_and_data(theirs);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(d1, d2);
  uint64_t n;
  std::memcpy(&n, ours.data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST_F(TempDir, ModuleRoundTrip) {
  auto a = pytorch_shaped_model(), b = pytorch_shaped_model();
  nn::save(*a, (dir / "m.safetensors").string());
  nn::load(*b, (dir / "m.safetensors").string());
  Tensor x = randn({3, 5});
  EXPECT_TRUE(equal(a->forward(x), b->forward(x)));
}

TEST_F(TempDir, AFailedSaveKeepsTheExistingFile) {
  auto a = pytorch_shaped_model();
  const fs::path path = dir / "m.safetensors";
  nn::save(*a, path.string());
  std::string before = read_bytes(path);
  EXPECT_THROW(nn::save_safetensors({{"bad", Tensor()}}, path.string()), Error);
  EXPECT_THROW(nn::save_safetensors({{"x", zeros({1})}}, (dir / "no-such-dir" / "m.safetensors").string()), Error);
  EXPECT_EQ(read_bytes(path), before);
  for (auto& entry : fs::directory_iterator(dir)) EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos);
}

TEST_F(TempDir, TruncatedAndCorruptFilesGiveClearErrors) {
  auto a = pytorch_shaped_model();
  const fs::path good = dir / "good.safetensors";
  nn::save(*a, good.string());
  std::string bytes = read_bytes(good);
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  };
  auto expect_error = [](const std::string& path, const std::string& fragment) {
    try {
      nn::load_safetensors(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error(write("short.safetensors", bytes.substr(0, 4)), "truncated");
  expect_error(write("cut.safetensors", bytes.substr(0, bytes.size() - 10)), "truncated");
  std::string bad_json = bytes;
  bad_json[9] = '#';
  expect_error(write("json.safetensors", bad_json), "corrupt header");
  std::string huge = bytes;
  uint64_t big = 1ull << 40;
  std::memcpy(huge.data(), &big, 8);
  expect_error(write("huge.safetensors", huge), "truncated or corrupt");
  expect_error((dir / "missing.safetensors").string(), "cannot open");
  nn::save_safetensors({{"x", zeros({2})}}, (dir / "x.safetensors").string());
  EXPECT_THROW(nn::load(*a, (dir / "x.safetensors").string()), Error);  // a valid file for another model
}

// ---------------------------------------------------------------- float16 and bfloat16

const std::string kFile = kRef + "half_safetensors.safetensors";

const nlohmann::json& reference() {
  static const nlohmann::json ref = [] {
    std::ifstream f(kRef + "half_safetensors.json");
    return nlohmann::json::parse(f);
  }();
  return ref;
}

std::vector<uint16_t> bits_of(const Tensor& t) {
  Tensor c = t.contiguous();
  std::vector<uint16_t> out(static_cast<size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}

// The entries of `state` whose names start with "<prefix>.", without the prefix and the special values.
nn::StateDict weights_of(const nn::StateDict& state, const std::string& prefix) {
  nn::StateDict out;
  for (const auto& [name, t] : state)
    if (name.rfind(prefix + ".", 0) == 0 && name != prefix + ".specials") out.emplace_back(name.substr(prefix.size() + 1), t);
  return out;
}

TEST(Safetensors, PyTorchsF16AndBf16TensorsLoadBitForBit) {
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

TEST_F(TempDir, HalfPrecisionFilesAreWrittenBackByteForByte) {
  std::map<std::string, std::string> meta;
  const nn::StateDict state = nn::load_safetensors(kFile, &meta);
  const fs::path out = dir / "again.safetensors";
  nn::save_safetensors(state, out.string(), meta);
  const std::string ours = read_bytes(out), theirs = read_bytes(kFile);
  auto [h1, d1] = header_and_data(ours);
  auto [h2, d2] = header_and_data(theirs);
  EXPECT_EQ(h1, h2) << "the same dtypes (F16, BF16), shapes and offsets";
  EXPECT_EQ(d1, d2) << "the same data bytes";
}

TEST_F(TempDir, AHalfCheckpointLoadsIntoAFloat32ModelOnlyWhenAskedToConvert) {
  for (const std::string prefix : {"f16", "bf16"}) {
    SCOPED_TRACE(prefix);
    const nn::StateDict all = nn::load_safetensors(kFile);
    const fs::path path = dir / (prefix + ".safetensors");
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
    for (const auto& [name, t] : model->named_parameters()) EXPECT_EQ(t.dtype(), kFloat32) << name;
    const auto& ref = reference();
    Tensor x = tensor(ref["input"].get<std::vector<double>>(), ref["input_shape"].get<std::vector<int64_t>>());
    Tensor expected = tensor(ref["outputs"][prefix].get<std::vector<double>>(), ref["output_shape"].get<std::vector<int64_t>>());
    EXPECT_TRUE(allclose((*model)(x), expected, 1e-5, 1e-6)) << "PyTorch's output after load_state_dict converts";
  }
}

TEST_F(TempDir, HalfModulesRoundTrip) {
  auto a = pytorch_shaped_model(), b = pytorch_shaped_model();
  a->to(kBFloat16);
  b->to(kBFloat16);
  const fs::path path = dir / "module.safetensors";
  nn::save(*a, path.string());
  nn::load(*b, path.string());
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pb[i].second.dtype(), kBFloat16);
    EXPECT_EQ(bits_of(pa[i].second), bits_of(pb[i].second)) << pa[i].first;
  }
}

}  // namespace
