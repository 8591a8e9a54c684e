#pragma once
// One-step recurrent cells, as torch.nn's RNNCell, LSTMCell and GRUCell: parameters weight_ih (G H, input_size),
// weight_hh (G H, hidden_size), bias_ih and bias_hh (G H), initialised U(-1/sqrt(hidden_size),
// 1/sqrt(hidden_size)); PyTorch's printing. Each forward is the functional cell (F::rnn_tanh_cell, ...), a
// composite of ops. Inputs (B, input_size) or unbatched (input_size); states default to zeros.
#include <string>
#include <tuple>

#include "graft/nn/module.h"

namespace graft::nn {

/// What the cells share (PyTorch's RNNCellBase).
class RNNCellBase : public Module {
 public:
  /// Reinitialises the parameters as PyTorch does.
  void reset_parameters();
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  int64_t input_size, hidden_size;
  bool bias;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  RNNCellBase(std::string name, int64_t input_size, int64_t hidden_size, bool bias, int64_t gates, DType dtype);
};

/// nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh').
class RNNCell : public RNNCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, bool bias = true, std::string nonlinearity = "tanh",
          DType dtype = kFloat32);
  /// h' from input and hx (undefined: zeros).
  Tensor forward(const Tensor& input, const Tensor& hx);
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  std::string nonlinearity;
};

/// nn.LSTMCell(input_size, hidden_size, bias=True).
class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true, DType dtype = kFloat32);
  /// (h', c') from input, hx and cx (undefined: zeros).
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx, const Tensor& cx);
  /// h' from zero states.
  Tensor forward(const Tensor& input) override { return std::get<0>(forward(input, Tensor(), Tensor())); }
};

/// nn.GRUCell(input_size, hidden_size, bias=True).
class GRUCell : public RNNCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& input, const Tensor& hx);
  Tensor forward(const Tensor& input) override { return forward(input, Tensor()); }
};

}  // namespace graft::nn
