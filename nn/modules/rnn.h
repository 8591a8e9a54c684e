#pragma once
// Recurrent layers, as torch.nn's RNN, LSTM and GRU: the same constructor arguments and defaults, the
// parameters PyTorch names weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and weight_hr_l{k} for
// an LSTM with proj_size), with "_reverse" for the second direction, in PyTorch's order, shapes and gate order
// (LSTM i, f, g, o; GRU r, z, n), so a PyTorch state dict loads; every parameter initialised
// U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as PyTorch does; PyTorch's printing.
//
// Each layer and direction is one fused F::rnn_layer over the whole sequence. Inputs are (T, B, input_size),
// (B, T, input_size) with batch_first, or unbatched (T, input_size); initial states (num_layers *
// num_directions, B, H_out) or unbatched (num_layers * num_directions, H_out), zeros when not given.
//
// Variable-length batches: `lengths` (int64, one per batch entry, each in [1, T]) gives the semantics of
// pack_padded_sequence -> the RNN -> pad_packed_sequence(total_length=T): outputs past an entry's length are
// zero, and its final states are the ones at its length (for the reverse direction, the one after reading
// back from its last element). With enforce_sorted (PyTorch's default), lengths must be in decreasing order.
#include <optional>
#include <string>
#include <vector>

#include "graft/nn/module.h"

namespace graft::nn {

/// What an RNN, LSTM or GRU returns: the output sequence and the final states.
struct RecurrentOutput {
  Tensor output;  // (T, B, D * H_out), (B, T, D * H_out) with batch_first, or (T, D * H_out) unbatched
  Tensor h_n;     // (num_layers * D, B, H_out) (never batch-first, as in PyTorch)
  Tensor c_n;     // LSTM: (num_layers * D, B, hidden_size); undefined otherwise
};

/// What RNN, LSTM and GRU share (PyTorch's RNNBase).
class RNNBase : public Module {
 public:
  /// The output sequence alone (for Sequential).
  Tensor forward(const Tensor& input) override;
  /// Reinitialises every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in registration order.
  void reset_parameters();
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;
  /// The parameters of layer `layer` in direction `direction` (0 forward, 1 reverse): w_ih, w_hh, b_ih, b_hh,
  /// w_hr (undefined where absent).
  std::vector<Tensor> layer_parameters(int64_t layer, int64_t direction) const;

  std::string mode;  // "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"
  int64_t input_size, hidden_size, num_layers;
  bool bias, batch_first;
  double dropout;
  bool bidirectional;
  int64_t proj_size;

 protected:
  RNNBase(std::string name, std::string mode, int64_t input_size, int64_t hidden_size, int64_t num_layers, bool bias,
          bool batch_first, double dropout, bool bidirectional, int64_t proj_size, DType dtype);
  /// Runs every layer and direction (h0, c0 may be undefined: zeros).
  /// @throws graft::Error for an input or states of the wrong shape or dtype, or bad lengths.
  RecurrentOutput run(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths,
                      bool enforce_sorted);

 private:
  std::vector<std::vector<Tensor>> flat_weights_;  // per (layer, direction)
};

/// RNN's constructor arguments by name, for designated initialisers:
/// `nn::RNN({.input_size = 8, .hidden_size = 16, .nonlinearity = "relu", .batch_first = true})`. The defaults
/// are PyTorch's. (LibTorch's RNNOptions is a builder with the same fields; this one is an aggregate.)
struct RNNOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  std::string nonlinearity = "tanh";
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
  bool bidirectional = false;
  DType dtype = kFloat32;
};

/// LSTM's constructor arguments by name: `nn::LSTM({.input_size = 64, .hidden_size = 256, .num_layers = 2,
/// .batch_first = true})`. The defaults are PyTorch's.
struct LSTMOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
  bool bidirectional = false;
  int64_t proj_size = 0;
  DType dtype = kFloat32;
};

/// GRU's constructor arguments by name: `nn::GRU({.input_size = 8, .hidden_size = 16, .bidirectional = true})`.
/// The defaults are PyTorch's.
struct GRUOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
  bool bidirectional = false;
  DType dtype = kFloat32;
};

/// nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, dropout=0,
/// bidirectional=False).
/// @throws graft::Error for a non-positive size, an unknown nonlinearity or a dropout outside [0, 1].
class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, std::string nonlinearity = "tanh",
      bool bias = true, bool batch_first = false, double dropout = 0.0, bool bidirectional = false,
      DType dtype = kFloat32);
  /// The same, with the arguments named. @throws graft::Error as above.
  explicit RNN(const RNNOptions& o)
      : RNN(o.input_size, o.hidden_size, o.num_layers, o.nonlinearity, o.bias, o.batch_first, o.dropout,
            o.bidirectional, o.dtype) {}
  using RNNBase::forward;
  /// (output, h_n) from the initial state h0 (undefined: zeros), over `lengths` when given.
  RecurrentOutput forward(const Tensor& input, const Tensor& h0, const Tensor& lengths = {}, bool enforce_sorted = true);
  std::string nonlinearity;
};

/// nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0, bidirectional=False,
/// proj_size=0).
/// @throws graft::Error as RNN, and for proj_size outside [0, hidden_size).
class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool bias = true, bool batch_first = false,
       double dropout = 0.0, bool bidirectional = false, int64_t proj_size = 0, DType dtype = kFloat32);
  /// The same, with the arguments named. @throws graft::Error as above.
  explicit LSTM(const LSTMOptions& o)
      : LSTM(o.input_size, o.hidden_size, o.num_layers, o.bias, o.batch_first, o.dropout, o.bidirectional,
             o.proj_size, o.dtype) {}
  using RNNBase::forward;
  /// (output, h_n, c_n) from the initial states (undefined: zeros; give both or neither), over `lengths`.
  RecurrentOutput forward(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths = {},
                          bool enforce_sorted = true);
};

/// nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0, bidirectional=False).
class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool bias = true, bool batch_first = false,
      double dropout = 0.0, bool bidirectional = false, DType dtype = kFloat32);
  /// The same, with the arguments named. @throws graft::Error as above.
  explicit GRU(const GRUOptions& o)
      : GRU(o.input_size, o.hidden_size, o.num_layers, o.bias, o.batch_first, o.dropout, o.bidirectional, o.dtype) {}
  using RNNBase::forward;
  RecurrentOutput forward(const Tensor& input, const Tensor& h0, const Tensor& lengths = {}, bool enforce_sorted = true);
};

}  // namespace graft::nn
