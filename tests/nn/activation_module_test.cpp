// The activation modules: PyTorch's values, gradients and reprs; arguments checked; make_activation.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;

namespace {

template <class M, class... Args>
std::function<ModulePtr()> make(Args... args) {
  return [=] { return std::make_shared<M>(args...); };
}

TEST(ActivationModules, MatchPyTorch) {
  check_against_pytorch("ReLU", make<ReLU>());
  check_against_pytorch("LeakyReLU", make<LeakyReLU>(0.2));
  check_against_pytorch("ELU", make<ELU>(0.7));
  check_against_pytorch("GELU", make<GELU>());
  check_against_pytorch("GELU_tanh", make<GELU>("tanh"));
  check_against_pytorch("SiLU", make<SiLU>());
  check_against_pytorch("Sigmoid", make<Sigmoid>());
  check_against_pytorch("Tanh", make<Tanh>());
  check_against_pytorch("Softplus", make<Softplus>());
  check_against_pytorch("Softplus_beta", make<Softplus>(2.0, 3.0));
  check_against_pytorch("Softplus_float_beta", make<Softplus>(0.5, 2.5));
  check_against_pytorch("Softmax", make<Softmax>(1));
  check_against_pytorch("LogSoftmax", make<LogSoftmax>(0));
}

TEST(ActivationModules, DefaultsAndReprs) {
  EXPECT_EQ(LeakyReLU().repr(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(ELU().repr(), "ELU(alpha=1.0)");
  EXPECT_EQ(GELU().repr(), "GELU(approximate='none')");
  EXPECT_EQ(Softplus().repr(), "Softplus(beta=1, threshold=20)");
  EXPECT_EQ(Softmax(-1).repr(), "Softmax(dim=-1)");
  EXPECT_EQ(LogSoftmax(2).repr(), "LogSoftmax(dim=2)");
  EXPECT_EQ(ReLU().repr(), "ReLU()");
  EXPECT_TRUE(ReLU().state_dict().empty());
}

TEST(ActivationModules, RejectBadArguments) {
  try {
    GELU("exact");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "GELU: approximate must be 'none' or 'tanh', got 'exact'");
  }
  EXPECT_THROW(Softplus(0.0), Error);
  EXPECT_THROW(LeakyReLU(std::nan("")), Error);
  EXPECT_THROW(ELU{INFINITY}, Error);
  EXPECT_THROW(Softmax(2).forward(ones({2, 2})), Error);         // dim out of range, from F::softmax
  EXPECT_THROW(SiLU().forward(ones({2}, kInt64)), Error);        // integer input
}

// As in PyTorch: calling the module runs its hooks, forward() alone does not.
TEST(ActivationModules, CallingTheModuleRunsItsForwardHooks) {
  auto relu = std::make_shared<ReLU>();
  int calls = 0;
  relu->register_forward_hook([&](Module&) { ++calls; });
  (*relu)(ones({2}));
  EXPECT_EQ(calls, 1);
  relu->forward(ones({2}));
  EXPECT_EQ(calls, 1);
}

TEST(MakeActivation, BuildsEachNamedModule) {
  EXPECT_EQ(make_activation("relu")->repr(), "ReLU()");
  EXPECT_EQ(make_activation("gelu_tanh")->repr(), "GELU(approximate='tanh')");
  EXPECT_EQ(make_activation("swish")->type_name(), "SiLU");
  for (const char* name : {"leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus"})
    EXPECT_NO_THROW(make_activation(name)->forward(ones({3})));
  try {
    make_activation("mish");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown activation 'mish'"), std::string::npos);
  }
}

TEST(ActivationFactory, GivesAFreshModuleEachCall) {
  ActivationFactory by_name = "tanh";
  EXPECT_NE(by_name().get(), by_name().get());
  int made = 0;
  ActivationFactory custom([&]() -> ModulePtr {
    ++made;
    return std::make_shared<LeakyReLU>(0.3);
  });
  EXPECT_EQ(custom()->repr(), "LeakyReLU(negative_slope=0.3)");
  EXPECT_EQ(made, 1);
  EXPECT_THROW(ActivationFactory("nope"), Error);  // an unknown name fails when configured
  EXPECT_THROW(ActivationFactory(std::function<ModulePtr()>()), Error);
  EXPECT_THROW(ActivationFactory([] { return ModulePtr(); })(), Error);
}

}  // namespace
