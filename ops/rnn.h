#pragma once
// Recurrent networks as ops: the cells of torch.rnn_tanh_cell, torch.rnn_relu_cell, torch.lstm_cell and
// torch.gru_cell (one time step, written with other ops), and rnn_layer, one layer in one direction over a
// whole sequence as one fused op (what nn::RNN, nn::LSTM and nn::GRU are built from).
//
// Formulas and gate order are PyTorch's:
//   RNN   h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu
//   LSTM  i, f, g, o = chunks of x W_ih^T + b_ih + h W_hh^T + b_hh;  c' = sigmoid(f) c + sigmoid(i) tanh(g);
//         h' = sigmoid(o) tanh(c'), then h' W_hr^T with a projection (proj_size)
//   GRU   r, z = sigmoid of the chunks of x W_ih^T + b_ih + h W_hh^T + b_hh;
//         n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn));  h' = (1 - z) n + z h
#include <cstdint>
#include <string_view>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// One step of an Elman RNN with tanh: tanh(input W_ih^T + b_ih + hx W_hh^T + b_hh).
/// @param input (B, I) or (I); hx (B, H) or (H), undefined for zeros; w_ih (H, I); w_hh (H, H); b_ih, b_hh (H)
///   or undefined.
/// @return the new hidden state, shaped like hx.
/// @throws graft::Error when a shape or dtype does not fit (naming the argument and the shapes).
Tensor rnn_tanh_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = {}, const Tensor& b_hh = {});
/// rnn_tanh_cell with relu.
Tensor rnn_relu_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = {}, const Tensor& b_hh = {});
/// One LSTM step. w_ih (4H, I), w_hh (4H, H), biases (4H); hx and cx (B, H) or (H), undefined for zeros.
/// @return (h', c').
/// @throws graft::Error as rnn_tanh_cell.
std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input, const Tensor& hx, const Tensor& cx, const Tensor& w_ih,
                                     const Tensor& w_hh, const Tensor& b_ih = {}, const Tensor& b_hh = {});
/// One GRU step. w_ih (3H, I), w_hh (3H, H), biases (3H).
/// @throws graft::Error as rnn_tanh_cell.
Tensor gru_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih = {},
                const Tensor& b_hh = {});

/// One recurrent layer in one direction over a time-major sequence, fused: one product for the input
/// projections of every step, one h W_hh^T product and one gate pass per step, and the weight gradients as
/// products over all steps. The time loop is a loop, not a graph: a sequence of any length is one node.
/// @param mode "RNN_TANH", "RNN_RELU", "LSTM" or "GRU".
/// @param input (T, B, I), T > 0.
/// @param h0 (B, P), P the hidden size H, or proj_size for an LSTM with w_hr.
/// @param c0 (B, H) for an LSTM, undefined otherwise.
/// @param w_ih (G H, I), w_hh (G H, P), b_ih and b_hh (G H) or undefined (G = 1, 4, 3 gates); w_hr (P, H) for an
///   LSTM with a projection, else undefined.
/// @param lengths undefined, or int64 (B) in [1, T]: entry b only runs steps t < lengths[b] (its output is zero
///   after them and its final state is the one at its length: pack_padded_sequence's semantics).
/// @param reverse run from the last step to the first (the backward direction of a bidirectional layer; with
///   lengths, each entry starts at its own last step).
/// @return (output (T, B, P), h_n (B, P), c_n (B, H), undefined but for an LSTM).
/// @throws graft::Error for an unknown mode, shapes or dtypes that do not fit, or bad lengths.
/// Differentiable in every tensor argument but lengths; under create_graph the backward pass is composed of ops
/// (replaying the steps), so second derivatives exist.
std::tuple<Tensor, Tensor, Tensor> rnn_layer(std::string_view mode, const Tensor& input, const Tensor& h0,
                                             const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                                             const Tensor& b_ih = {}, const Tensor& b_hh = {}, const Tensor& w_hr = {},
                                             const Tensor& lengths = {}, bool reverse = false);

}  // namespace graft::nn::functional
