#pragma once
// One recurrent layer in one direction over a whole sequence, fused: the input projections of all time
// steps are one matrix product, each step adds one h W_hh^T product and one pass over the gates, and the
// backward pass (through time) ends with the weight gradients as products over all steps at once.
// Layouts are time-major and contiguous: x (T, B, I), states (B, P), outputs (T, B, P), with P the hidden
// size H or, for an LSTM with a projection, proj_size. Gate order is PyTorch's: LSTM i, f, g, o; GRU r, z, n.
// float32 and float64; the products go through kernels::bmm (sgemm for float32), the float32 sigmoids and
// tanhs through oneDNN's eltwise primitives.
#include <cstdint>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::kernels {

enum class RnnMode : uint8_t { Tanh, Relu, Lstm, Gru };

// Gates per hidden unit: 4 for an LSTM, 3 for a GRU, 1 for a plain RNN.
int64_t rnn_gate_count(RnnMode mode);

// The layer's parameters, contiguous: w_ih (G H, I), w_hh (G H, P), b_ih and b_hh (G H) or undefined, w_hr
// (P, H) or undefined.
struct RnnWeights {
  Tensor w_ih, w_hh, b_ih, b_hh, w_hr;
};

// The sequence: time steps are processed from 0 (or, reversed, from T - 1) on; batch entry b only takes part
// in steps t < lengths[b] (all of them when `lengths` is empty); elsewhere its state is carried unchanged and
// its output is zero.
struct RnnSequence {
  std::vector<int64_t> lengths;
  bool reverse = false;
};

// The forward pass's results and what its backward pass needs, all time-major (T, B, .) and indexed by time
// step, whatever the direction.
struct RnnForward {
  Tensor output;  // (T, B, P)
  Tensor h_n;     // (B, P)
  Tensor c_n;     // (B, H), LSTM only
  Tensor h_prev;  // (T, B, P): the state each step read
  Tensor c_prev;  // (T, B, H), LSTM: the cell state each step read
  Tensor gates;   // (T, B, G H): the gate values (LSTM i f g o, GRU r z n; plain RNN: the new state)
  Tensor aux;     // LSTM: tanh(c) of each step (T, B, H); GRU: W_hn h + b_hn of each step (T, B, H)
};

RnnForward rnn_forward(RnnMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const RnnWeights& w,
                       const RnnSequence& seq);

// Gradients of the inputs whose flag is set in `wanted` (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr), from the
// gradients of the three outputs (each may be undefined: zero).
struct RnnGrads {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr;
};
RnnGrads rnn_backward(RnnMode mode, const RnnForward& fwd, const Tensor& x, const RnnWeights& w, const RnnSequence& seq,
                      const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n,
                      const std::vector<bool>& wanted);

}  // namespace graft::kernels
