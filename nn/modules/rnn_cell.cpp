#include "graft/nn/modules/rnn_cell.h"

#include <cmath>

#include <fmt/format.h>

#include "graft/graph/factory.h"
#include "graft/nn/init.h"
#include "graft/ops/rnn.h"

namespace graft::nn {

RNNCellBase::RNNCellBase(std::string name, int64_t input, int64_t hidden, bool with_bias, int64_t gates, DType dtype)
    : Module(name), input_size(input), hidden_size(hidden), bias(with_bias) {
  // Zero is allowed for both, as in PyTorch: the parameters are then empty.
  GRAFT_CHECK(input >= 0 && hidden >= 0, "{}: input_size and hidden_size must be non-negative, got {} and {}", name,
              input, hidden);
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating point, got {}", name, dtype_name(dtype));
  weight_ih = register_parameter("weight_ih", empty({gates * hidden, input}, dtype));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden, hidden}, dtype));
  bias_ih = register_parameter("bias_ih", bias ? empty({gates * hidden}, dtype) : Tensor());
  bias_hh = register_parameter("bias_hh", bias ? empty({gates * hidden}, dtype) : Tensor());
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  const double bound = hidden_size > 0 ? 1.0 / std::sqrt(static_cast<double>(hidden_size)) : 0.0;
  for (Tensor& p : parameters()) init::uniform_(p, -bound, bound);
}

std::string RNNCellBase::extra_repr() const {
  return fmt::format("{}, {}{}", input_size, hidden_size, bias ? "" : ", bias=False");
}

RNNCell::RNNCell(int64_t input, int64_t hidden, bool bias, std::string nonlinearity_, DType dtype)
    : RNNCellBase("RNNCell", input, hidden, bias, 1, dtype), nonlinearity(std::move(nonlinearity_)) {
  GRAFT_CHECK(nonlinearity == "tanh" || nonlinearity == "relu",
              "RNNCell: unknown nonlinearity '{}' (expected 'tanh' or 'relu')", nonlinearity);
}

Tensor RNNCell::forward(const Tensor& input, const Tensor& hx) {
  return nonlinearity == "tanh" ? functional::rnn_tanh_cell(input, hx, weight_ih, weight_hh, bias_ih, bias_hh)
                                : functional::rnn_relu_cell(input, hx, weight_ih, weight_hh, bias_ih, bias_hh);
}

std::string RNNCell::extra_repr() const {
  return RNNCellBase::extra_repr() + (nonlinearity == "tanh" ? "" : ", nonlinearity=" + nonlinearity);
}

LSTMCell::LSTMCell(int64_t input, int64_t hidden, bool bias, DType dtype)
    : RNNCellBase("LSTMCell", input, hidden, bias, 4, dtype) {}

std::tuple<Tensor, Tensor> LSTMCell::forward(const Tensor& input, const Tensor& hx, const Tensor& cx) {
  return functional::lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih, bias_hh);
}

GRUCell::GRUCell(int64_t input, int64_t hidden, bool bias, DType dtype)
    : RNNCellBase("GRUCell", input, hidden, bias, 3, dtype) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& hx) {
  return functional::gru_cell(input, hx, weight_ih, weight_hh, bias_ih, bias_hh);
}

}  // namespace graft::nn
