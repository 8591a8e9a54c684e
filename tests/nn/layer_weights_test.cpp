// PyTorch state dicts of models made of graft's convolution, pooling and normalisation layers, saved as
// safetensors by tests/reference/cnn_model.py, load into the same models built from graft's modules and give
// PyTorch's outputs.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "graft/graft.h"
#include "named_keys.h"

using namespace graft;
using graft::testing::keys;

namespace {

const std::string kRef = std::string(GRAFT_SOURCE_DIR) + "/tests/reference/";

nlohmann::json read_json(const std::string& name) {
  std::ifstream f(kRef + name);
  return nlohmann::json::parse(f);
}

Tensor json_tensor(const nlohmann::json& ref, const char* values, const char* shape) {
  return tensor(ref[values].get<std::vector<double>>(), ref[shape].get<std::vector<int64_t>>());
}

TEST(LayerWeights, APyTorchCnnLoadsAndGivesPyTorchsOutput) {
  nn::Sequential model(nn::Conv2d(1, 4, 3, 1, 1), nn::BatchNorm2d(4), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(4, 6, 3, 1, "same", 1, 2, false), nn::ReLU(), nn::AdaptiveAvgPool2d(IntList{2, 2}),
                       nn::Flatten(), nn::Linear(24, 3));
  Shape seen_by_hook;
  model[4]->register_forward_hook([&](nn::Module&, const TensorList&, const TensorList& out) { seen_by_hook = out[0].shape(); });
  const nlohmann::json ref = read_json("cnn_model.json");
  EXPECT_EQ(keys(model.state_dict()), ref["keys"].get<std::vector<std::string>>());
  nn::load(model, kRef + "cnn_model.safetensors");
  model.eval();
  Tensor y = model(json_tensor(ref, "input", "input_shape"));
  EXPECT_TRUE(allclose(y, json_tensor(ref, "output", "output_shape"), 1e-5, 1e-6)) << y;
  EXPECT_EQ(seen_by_hook, Shape({2, 6, 4, 4})) << "Sequential calls its children, so their hooks run";
}

}  // namespace
