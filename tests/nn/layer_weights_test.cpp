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
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1), std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(4, 6, 3, 1, "same", 1, 2, false),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::AdaptiveAvgPool2d>(IntList{2, 2}), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(24, 3)});
  const nlohmann::json ref = read_json("cnn_model.json");
  EXPECT_EQ(keys(model->state_dict()), ref["keys"].get<std::vector<std::string>>());
  nn::load(*model, kRef + "cnn_model.safetensors");
  model->eval();
  Tensor y = model->forward(json_tensor(ref, "input", "input_shape"));
  EXPECT_TRUE(allclose(y, json_tensor(ref, "output", "output_shape"), 1e-5, 1e-6)) << y;
}

}  // namespace
