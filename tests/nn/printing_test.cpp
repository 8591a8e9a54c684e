// Printing a model of graft's modules gives PyTorch's repr text for the same model (modules.py prints
// the PyTorch twin); a module can sit in two containers at once.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "graft/nn/modules/repr_format.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;

namespace {

class Block : public Module {
 public:
  Block() : Module("Block") {
    register_module("norm", std::make_shared<RMSNorm>(8));
    register_module("ffn", std::make_shared<FeedForward>(8, std::nullopt, "swiglu", false));
    register_module("drop", std::make_shared<Dropout>(0.1));
  }
};

class Model : public Module {
 public:
  Model() : Module("Model") {
    register_module("embed", std::make_shared<Embedding>(100, 8, 0));
    register_module("blocks", std::make_shared<ModuleList>(std::initializer_list<ModulePtr>{
                                  std::make_shared<Block>(), std::make_shared<Block>()}));
    register_module("norm", std::make_shared<LayerNorm>(8, 1e-6));
    register_module("head", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                std::make_shared<Linear>(8, 16), std::make_shared<BatchNorm1d>(16, 1e-5, std::nullopt),
                                std::make_shared<LeakyReLU>(0.1), std::make_shared<ELU>(), std::make_shared<Softplus>(2.0),
                                std::make_shared<GELU>("tanh"), std::make_shared<Softmax>(-1)}));
    register_module("mlp", std::make_shared<MLP>(std::vector<int64_t>{8, 16, 4}, "silu", 0.5));
  }
};

class Scaled : public Module {
 public:
  Scaled() : Module("Scaled") { register_module("inner", std::make_shared<Linear>(2, 2)); }
  std::string extra_repr() const override { return "scale=2.0"; }
};

TEST(ModulePrinting, NestedModelPrintsAsInPyTorch) {
  EXPECT_EQ(Model().repr(), graft::testing::module_reference("nested_model").get<std::string>());
}

TEST(ModulePrinting, ExtraReprGoesOnItsOwnLineBeforeChildren) {
  EXPECT_EQ(Scaled().repr(), graft::testing::module_reference("extra_and_children").get<std::string>());
}

TEST(ReprFormat, FormatsValuesAsPythonsRepr) {
  using namespace repr_format;
  EXPECT_EQ(py_float(1e-5), "1e-05");
  EXPECT_EQ(py_float(1.0), "1.0");
  EXPECT_EQ(py_float(0.1), "0.1");
  EXPECT_EQ(py_float(1e16), "1e+16");
  EXPECT_EQ(py_float(123456.0), "123456.0");
  EXPECT_EQ(py_float(-0.0), "-0.0");
  EXPECT_EQ(py_float(std::optional<double>()), "None");
  EXPECT_EQ(py_float(INFINITY), "inf");
  EXPECT_EQ(py_number(20.0), "20");
  EXPECT_EQ(py_number(0.5), "0.5");
  EXPECT_EQ(py_tuple({4}), "(4,)");
  EXPECT_EQ(py_tuple({3, 4}), "(3, 4)");
  EXPECT_EQ(py_bool(false), "False");
  EXPECT_EQ(py_str("tanh"), "'tanh'");
}

TEST(SharedModules, OneModuleSitsInTwoContainers) {
  auto shared = std::make_shared<Linear>(3, 3);
  auto list = std::make_shared<ModuleList>(std::initializer_list<ModulePtr>{shared, std::make_shared<ReLU>()});
  auto seq = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{shared, std::make_shared<Tanh>(), shared});
  Tensor x = randn({2, 3});
  Tensor y = seq->forward(x);
  EXPECT_TRUE(allclose(y, shared->forward(tanh(shared->forward(x))), 1e-6, 1e-6));
  EXPECT_EQ(seq->parameters().size(), 2u);  // counted once
  EXPECT_EQ(seq->state_dict().size(), 4u);  // listed under both names, as PyTorch's state_dict does
  // A change through one container is seen through the other.
  {
    NoGradGuard no_grad;
    list->at<Linear>(0)->weight.fill_(0.5);
  }
  EXPECT_EQ(seq->submodule("2")->parameter("weight").to_vector<double>(), std::vector<double>(9, 0.5));
  // Gradients from both uses accumulate in the one parameter.
  y = seq->forward(x);
  y.sum().backward();
  EXPECT_TRUE(shared->weight.grad().defined());
  EXPECT_EQ(list->at<Linear>(0)->weight.grad().impl(), shared->weight.grad().impl());
}

}  // namespace
