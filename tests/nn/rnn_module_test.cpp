// nn::RNN, nn::LSTM, nn::GRU and the cells: PyTorch's parameter names, order and shapes, initialisation and
// printing; PyTorch's outputs and gradients (tests/reference/rnn.py) for layers, directions, batch_first,
// proj_size, initial states and variable lengths (sorted and not); dropout between layers; long sequences;
// bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"
#include "named_keys.h"
#include "support/errors.h"
#include "module_reference.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::expect_error;
using graft::testing::keys;

namespace {

const nlohmann::json& module_case(const std::string& name) {
  for (const auto& c : graft::testing::reference_json("rnn.json").at("modules"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("no module case " + name);
}

Tensor ref_tensor(const nlohmann::json& j, DType dt) { return graft::testing::reference_tensor(j, dt); }

// Loads the case's state dict into `module`, runs it on the case's input (and states, lengths), and compares
// outputs and every gradient with PyTorch's.
void check_case(const std::string& name, RNNBase& module, DType dt) {
  SCOPED_TRACE(name + " " + dtype_name(dt));
  const nlohmann::json& c = module_case(name);
  const double tol = dt == kFloat64 ? 1e-10 : 2e-5;
  EXPECT_EQ(module.repr(), c.at("repr").get<std::string>());
  module.to(dt);
  module.load_state_dict(graft::testing::reference_state(c.at("state")));
  const bool lstm = module.mode == "LSTM";
  Tensor x = ref_tensor(c.at("x"), dt).requires_grad_();
  Tensor h0 = c.contains("h0") ? ref_tensor(c.at("h0"), dt).requires_grad_() : Tensor();
  Tensor c0 = c.contains("c0") ? ref_tensor(c.at("c0"), dt).requires_grad_() : Tensor();
  Tensor lengths = c.contains("lengths") ? tensor(c.at("lengths").get<std::vector<int64_t>>()) : Tensor();
  const bool sorted = c.value("enforce_sorted", true);
  RecurrentOutput out = lstm ? static_cast<LSTM&>(module).forward(x, h0, c0, lengths, sorted)
                        : module.mode == "GRU" ? static_cast<GRU&>(module).forward(x, h0, lengths, sorted)
                                               : static_cast<RNN&>(module).forward(x, h0, lengths, sorted);
  EXPECT_TRUE(graft::testing::close_to(out.output, ref_tensor(c.at("output"), kFloat64), tol, tol)) << "output";
  EXPECT_TRUE(graft::testing::close_to(out.h_n, ref_tensor(c.at("h_n"), kFloat64), tol, tol)) << "h_n";
  Tensor loss = (out.output * ref_tensor(c.at("v"), dt)).sum() + (out.h_n * ref_tensor(c.at("vh"), dt)).sum();
  if (lstm) {
    EXPECT_TRUE(graft::testing::close_to(out.c_n, ref_tensor(c.at("c_n"), kFloat64), tol, tol)) << "c_n";
    loss = loss + (out.c_n * ref_tensor(c.at("vc"), dt)).sum();
  }
  loss.backward();
  EXPECT_TRUE(graft::testing::close_to(x.grad(), ref_tensor(c.at("grad_x"), kFloat64), tol, tol)) << "grad x";
  if (h0.defined()) {
    EXPECT_TRUE(graft::testing::close_to(h0.grad(), ref_tensor(c.at("grad_h0"), kFloat64), tol, tol)) << "grad h0";
  }
  if (c0.defined()) {
    EXPECT_TRUE(graft::testing::close_to(c0.grad(), ref_tensor(c.at("grad_c0"), kFloat64), tol, tol)) << "grad c0";
  }
  for (const auto& [k, p] : module.named_parameters())
    EXPECT_TRUE(graft::testing::close_to(p.grad(), ref_tensor(c.at("param_grads").at(k), kFloat64), tol, tol)) << "grad " << k;
}

template <class M, class... Args>
void check_both_dtypes(const std::string& name, Args... args) {
  for (DType dt : {kFloat64, kFloat32}) {
    M module(args...);
    check_case(name, module, dt);
  }
}

TEST(LSTM, MatchesPyTorch) {
  check_both_dtypes<LSTM>("LSTM", 3, 4);
  check_both_dtypes<LSTM>("LSTM_2_layers_bidirectional_proj_batch_first", 3, 4, 2, true, true, 0.0, true, 2);
}

TEST(LSTM, VariableLengthsMatchPackedSequences) {
  check_both_dtypes<LSTM>("LSTM_packed_bidirectional", 3, 4, 1, true, false, 0.0, true);
  check_both_dtypes<LSTM>("LSTM_packed_unsorted_no_state", 2, 3, 2);
}

TEST(GRU, MatchesPyTorch) {
  check_both_dtypes<GRU>("GRU_2_layers_bidirectional", 3, 4, 2, true, false, 0.0, true);
  check_both_dtypes<GRU>("GRU_packed_no_bias", 3, 4, 1, false, true);
}

TEST(RNN, MatchesPyTorch) {
  check_both_dtypes<RNN>("RNN_tanh", 3, 4, 2);
  check_both_dtypes<RNN>("RNN_relu_bidirectional_packed", 3, 4, 1, "relu", true, false, 0.0, true);
}

TEST(LSTM, HasPyTorchsParameterNamesShapesAndInitialisation) {
  manual_seed(1);
  LSTM lstm(4, 8, 2, true, false, 0.0, true, 3);
  EXPECT_EQ(keys(lstm.named_parameters()),
            (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
                                      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                      "bias_hh_l0_reverse", "weight_hr_l0_reverse", "weight_ih_l1", "weight_hh_l1",
                                      "bias_ih_l1", "bias_hh_l1", "weight_hr_l1", "weight_ih_l1_reverse",
                                      "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
                                      "weight_hr_l1_reverse"}));
  EXPECT_EQ(lstm.layer_parameters(1, 0)[0].shape(), Shape({32, 6}));  // input: both directions' projections
  EXPECT_EQ(lstm.layer_parameters(0, 1)[1].shape(), Shape({32, 3}));
  EXPECT_EQ(lstm.layer_parameters(0, 0)[4].shape(), Shape({3, 8}));
  for (const Tensor& p : lstm.parameters()) EXPECT_LE(p.abs().max().item<double>(), 1.0 / std::sqrt(8.0));
  EXPECT_EQ(lstm.repr(), "LSTM(4, 8, proj_size=3, num_layers=2, bidirectional=True)");
  EXPECT_EQ(GRU(3, 5).repr(), "GRU(3, 5)");
  EXPECT_EQ(RNN(3, 5, 1, "relu", false, true, 0.0).repr(), "RNN(3, 5, bias=False, batch_first=True)");
  EXPECT_EQ(keys(GRU(3, 5, 1, false).named_parameters()), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"}));
}

TEST(RecurrentOptions, NameTheConstructorArgumentsWithPyTorchsDefaults) {
  EXPECT_EQ(LSTM({.input_size = 4, .hidden_size = 8, .num_layers = 2, .bidirectional = true, .proj_size = 3}).repr(),
            "LSTM(4, 8, proj_size=3, num_layers=2, bidirectional=True)");
  EXPECT_EQ(LSTM({.input_size = 4, .hidden_size = 8}).repr(), LSTM(4, 8).repr());
  EXPECT_EQ(GRU({.input_size = 3, .hidden_size = 5, .bias = false, .dropout = 0.5}).repr(),
            "GRU(3, 5, bias=False, dropout=0.5)");
  const RNN relu({.input_size = 3, .hidden_size = 5, .nonlinearity = "relu", .batch_first = true});
  EXPECT_EQ(relu.nonlinearity, "relu");
  EXPECT_TRUE(relu.batch_first);
  EXPECT_EQ(LSTM({.input_size = 2, .hidden_size = 3, .dtype = kFloat64}).parameters()[0].dtype(), kFloat64);
  EXPECT_THROW(LSTM(LSTMOptions{}), Error) << "the sizes have no default";
}

TEST(LSTM, UnbatchedInputAndDefaultStates) {
  manual_seed(2);
  LSTM lstm(3, 4, 2, true, false, 0.0, true, 0, kFloat64);
  Tensor x = randn({5, 3}, kFloat64);
  RecurrentOutput unbatched = lstm.forward(x, {}, {});
  RecurrentOutput batched = lstm.forward(x.unsqueeze(1), {}, {});
  EXPECT_EQ(unbatched.output.shape(), Shape({5, 8}));
  EXPECT_EQ(unbatched.h_n.shape(), Shape({4, 4}));
  EXPECT_TRUE(allclose(unbatched.output, batched.output.squeeze(1)));
  EXPECT_TRUE(allclose(unbatched.c_n, batched.c_n.squeeze(1)));
  EXPECT_TRUE(allclose(lstm.forward(x), unbatched.output)) << "forward(input) is the output with zero states";
}

// Dropout between layers acts in training only, never after the last layer.
TEST(LSTM, DropoutBetweenLayersOnlyInTraining) {
  manual_seed(3);
  LSTM lstm(3, 4, 2, true, false, 0.5, false, 0, kFloat64);
  Tensor x = randn({4, 2, 3}, kFloat64);
  lstm.eval();
  Tensor a = lstm.forward(x), b = lstm.forward(x);
  EXPECT_TRUE(equal(a, b));
  lstm.train();
  EXPECT_FALSE(allclose(lstm.forward(x), a));
  LSTM single(3, 4, 1, true, false, 0.0, false, 0, kFloat64);
  EXPECT_TRUE(equal(single.forward(x), single.forward(x))) << "no dropout with one layer";
}

// An unsorted batch with enforce_sorted = false gives each entry what it gets alone.
TEST(GRU, EachEntryOfAPaddedBatchGetsWhatItGetsAlone) {
  manual_seed(4);
  GRU gru(2, 3, 2, true, true, 0.0, true, kFloat64);
  Tensor x = randn({3, 5, 2}, kFloat64);
  const std::vector<int64_t> lengths{2, 5, 3};
  RecurrentOutput all = gru.forward(x, {}, tensor(lengths), false);
  for (int64_t b = 0; b < 3; ++b) {
    RecurrentOutput alone = gru.forward(x.narrow(0, b, 1).narrow(1, 0, lengths[b]), {});
    EXPECT_TRUE(allclose(all.output.narrow(0, b, 1).narrow(1, 0, lengths[b]), alone.output, 1e-12, 1e-12)) << b;
    EXPECT_TRUE(allclose(all.h_n.narrow(1, b, 1), alone.h_n, 1e-12, 1e-12)) << b;
    if (lengths[b] < 5) {
      EXPECT_EQ(all.output.narrow(0, b, 1).narrow(1, lengths[b], 5 - lengths[b]).abs().sum().item<double>(), 0.0);
    }
  }
}

// Ten thousand time steps train (forward and backward) without deep recursion or a graph per step.
TEST(LSTM, TenThousandStepsForwardAndBackward) {
  manual_seed(5);
  LSTM lstm(2, 4, 2);
  Tensor x = randn({10000, 1, 2});
  RecurrentOutput out = lstm.forward(x, {}, {});
  out.output.sum().backward();
  for (const Tensor& p : lstm.parameters()) EXPECT_TRUE(std::isfinite(p.grad().abs().sum().item<double>()));
}

TEST(Cells, MatchTheFunctionalCellsAndPrintAsPyTorch) {
  manual_seed(6);
  LSTMCell lstm(3, 4);
  GRUCell gru(3, 4, false);
  RNNCell rnn(3, 4, true, "relu");
  EXPECT_EQ(lstm.repr(), "LSTMCell(3, 4)");
  EXPECT_EQ(gru.repr(), "GRUCell(3, 4, bias=False)");
  EXPECT_EQ(rnn.repr(), "RNNCell(3, 4, nonlinearity=relu)");
  EXPECT_EQ(keys(lstm.named_parameters()), (std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}));
  EXPECT_EQ(lstm.weight_ih.shape(), Shape({16, 3}));
  EXPECT_EQ(gru.weight_hh.shape(), Shape({12, 4}));
  Tensor x = randn({2, 3}), h = randn({2, 4}), c = randn({2, 4});
  auto [h1, c1] = lstm.forward(x, h, c);
  auto [fh, fc] = functional::lstm_cell(x, h, c, lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh);
  EXPECT_TRUE(equal(h1, fh));
  EXPECT_TRUE(equal(c1, fc));
  EXPECT_TRUE(equal(gru.forward(x, h), functional::gru_cell(x, h, gru.weight_ih, gru.weight_hh)));
  EXPECT_TRUE(equal(rnn.forward(x), functional::rnn_relu_cell(x, zeros({2, 4}), rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh)));
}

TEST(RNNModules, RejectBadArguments) {
  expect_error([] { LSTM(3, 4, 1, true, false, 0.0, false, 4); }, {"LSTM", "proj_size (4) has to be smaller than hidden_size (4)"});
  expect_error([] { RNN(3, 4, 1, "sigmoid"); }, {"RNN", "unknown nonlinearity 'sigmoid'"});
  expect_error([] { GRU(3, 0); }, {"GRU", "hidden_size must be positive"});
  expect_error([] { LSTM(3, 4, 2, true, false, 1.5); }, {"LSTM", "dropout should be a number in range [0, 1]"});
  LSTM lstm(3, 4, 2);
  expect_error([&] { lstm.forward(randn({5, 2, 2})); }, {"LSTM", "input.size(-1) must be equal to input_size. Expected 3, got 2"});
  expect_error([&] { lstm.forward(randn({5, 2, 3}), randn({2, 2, 4}), randn({1, 2, 4})); }, {"LSTM", "c0 of shape [2, 2, 4]", "[1, 2, 4]"});
  expect_error([&] { lstm.forward(randn({5, 2, 3}), randn({2, 2, 4}), {}); }, {"LSTM", "give both initial states"});
  expect_error([&] { lstm.forward(randn({5, 3, 3}), {}, {}, tensor({2, 5, 1})); },
               {"LSTM", "must be sorted in decreasing order", "enforce_sorted"});
  expect_error([&] { lstm.forward(randn({5, 2, 3}), {}, {}, tensor({6, 1})); }, {"rnn_layer", "lengths[0] = 6 is outside [1, 5]"});
  expect_error([&] { lstm.forward(randn({5, 2, 3}, kFloat64)); }, {"LSTM", "dtype float32", "float64"});
}

}  // namespace
