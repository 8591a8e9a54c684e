#include "graft/ops/rnn.h"

#include <fmt/format.h>

#include "graft/autograd/profiler.h"
#include "graft/ops/activation.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/detail/rnn_composite.h"
#include "graft/ops/kernels/rnn.h"
#include "graft/ops/linear.h"
#include "graft/ops/operators.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::RnnMode;

namespace {

// A tensor argument of `shape` and `dtype`, or undefined when optional.
void check_arg(const char* op, const char* arg, const Tensor& t, IntList shape, DType dtype, bool optional) {
  if (!t.defined()) {
    GRAFT_CHECK(optional, "{}: argument '{}' is an undefined tensor", op, arg);
    return;
  }
  GRAFT_CHECK(t.shape() == shape, "{}: expected {} of shape {}, got {}", op, arg, shape_str(shape), shape_str(t.shape()));
  GRAFT_CHECK(t.dtype() == dtype, "{}: expected {} of dtype {} (the input's), got {}", op, arg, dtype_name(dtype),
              dtype_name(t.dtype()));
}

// ---------------------------------------------------------------- cells

struct CellArgs {
  Tensor x, h;   // batched (B, I) and (B, H)
  bool batched;  // whether the input was
};

// Checks one cell's arguments (gates = gates per hidden unit) and returns them batched, with a zero state
// for an undefined hx.
CellArgs check_cell(const char* op, int64_t gates, const Tensor& input, const Tensor& hx, const Tensor& w_ih,
                    const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  check_defined(op, "input", input);
  check_defined(op, "weight_ih", w_ih);
  check_defined(op, "weight_hh", w_hh);
  check_floating_input(op, input);
  GRAFT_CHECK(input.dim() == 1 || input.dim() == 2, "{}: expected a 1-D (unbatched) or 2-D (batched) input, got shape {}",
              op, shape_str(input.shape()));
  GRAFT_CHECK(w_hh.dim() == 2 && w_hh.shape()[0] == gates * w_hh.shape()[1],
              "{}: expected weight_hh of shape ({} * hidden_size, hidden_size), got {}", op, gates, shape_str(w_hh.shape()));
  const int64_t hidden = w_hh.shape()[1], in = input.shape()[input.dim() - 1];
  const DType dt = input.dtype();
  check_arg(op, "weight_ih", w_ih, {gates * hidden, in}, dt, false);
  check_arg(op, "weight_hh", w_hh, {gates * hidden, hidden}, dt, false);
  check_arg(op, "bias_ih", b_ih, {gates * hidden}, dt, true);
  check_arg(op, "bias_hh", b_hh, {gates * hidden}, dt, true);
  const bool batched = input.dim() == 2;
  CellArgs a{batched ? input : unsqueeze(input, 0), Tensor(), batched};
  const int64_t batch = a.x.shape()[0];
  if (hx.defined()) {
    const Shape expected = batched ? Shape{batch, hidden} : Shape{hidden};
    GRAFT_CHECK(hx.shape() == expected, "{}: input of shape {} expects a hidden state of shape {}, got {}", op,
                shape_str(input.shape()), shape_str(expected), shape_str(hx.shape()));
    GRAFT_CHECK(hx.dtype() == dt, "{}: expected the hidden state of dtype {} (the input's), got {}", op, dtype_name(dt),
                dtype_name(hx.dtype()));
    a.h = batched ? hx : unsqueeze(hx, 0);
  } else {
    a.h = zeros({batch, hidden}, dt);
  }
  return a;
}

Tensor unbatch(const Tensor& t, bool batched) { return batched ? t : squeeze(t, 0); }

Tensor simple_cell(const char* op, bool relu_activation, const Tensor& input, const Tensor& hx, const Tensor& w_ih,
                   const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  const CellArgs a = check_cell(op, 1, input, hx, w_ih, w_hh, b_ih, b_hh);
  const Tensor pre = linear(a.x, w_ih, b_ih) + linear(a.h, w_hh, b_hh);
  return unbatch(relu_activation ? relu(pre) : tanh(pre), a.batched);
}

// ---------------------------------------------------------------- the fused layer

RnnMode rnn_mode_of(std::string_view mode) {
  if (mode == "RNN_TANH") return RnnMode::Tanh;
  if (mode == "RNN_RELU") return RnnMode::Relu;
  if (mode == "LSTM") return RnnMode::Lstm;
  if (mode == "GRU") return RnnMode::Gru;
  GRAFT_FAIL("rnn_layer: mode must be \"RNN_TANH\", \"RNN_RELU\", \"LSTM\" or \"GRU\", got \"{}\"", mode);
}

const char* node_name(RnnMode mode) {
  switch (mode) {
    case RnnMode::Tanh: return "RnnTanhLayerBackward0";
    case RnnMode::Relu: return "RnnReluLayerBackward0";
    case RnnMode::Lstm: return "LstmLayerBackward0";
    case RnnMode::Gru: return "GruLayerBackward0";
  }
  return "";
}

kernels::RnnSequence sequence_of(const Tensor& lengths, int64_t steps, int64_t batch, bool reverse) {
  constexpr const char* op = "rnn_layer";
  kernels::RnnSequence seq;
  seq.reverse = reverse;
  if (!lengths.defined()) return seq;
  GRAFT_CHECK(lengths.dtype() == kInt64 && lengths.dim() == 1 && lengths.shape()[0] == batch,
              "{}: expected lengths as an int64 tensor of shape [{}] (one per batch entry), got {} of shape {}", op, batch,
              dtype_name(lengths.dtype()), shape_str(lengths.shape()));
  seq.lengths = lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = seq.lengths[static_cast<size_t>(b)];
    GRAFT_CHECK(n >= 1 && n <= steps, "{}: lengths[{}] = {} is outside [1, {}] (the input has {} time steps)", op, b, n,
                steps, steps);
  }
  return seq;
}

}  // namespace

Tensor rnn_tanh_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                     const Tensor& b_hh) {
  GRAFT_RECORD_FUNCTION("rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh);
  return simple_cell("rnn_tanh_cell", false, input, hx, w_ih, w_hh, b_ih, b_hh);
}

Tensor rnn_relu_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                     const Tensor& b_hh) {
  GRAFT_RECORD_FUNCTION("rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh);
  return simple_cell("rnn_relu_cell", true, input, hx, w_ih, w_hh, b_ih, b_hh);
}

std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input, const Tensor& hx, const Tensor& cx, const Tensor& w_ih,
                                     const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  GRAFT_RECORD_FUNCTION("lstm_cell", input, hx, cx, w_ih, w_hh, b_ih, b_hh);
  constexpr const char* op = "lstm_cell";
  const CellArgs a = check_cell(op, 4, input, hx, w_ih, w_hh, b_ih, b_hh);
  Tensor c;
  if (cx.defined()) {
    const Shape expected = a.batched ? a.h.shape() : Shape{a.h.shape()[1]};
    GRAFT_CHECK(cx.shape() == expected, "{}: expected the cell state cx of shape {}, got {}", op, shape_str(expected),
                shape_str(cx.shape()));
    GRAFT_CHECK(cx.dtype() == input.dtype(), "{}: expected cx of dtype {} (the input's), got {}", op,
                dtype_name(input.dtype()), dtype_name(cx.dtype()));
    c = a.batched ? cx : unsqueeze(cx, 0);
  } else {
    c = zeros(a.h.shape(), input.dtype());
  }
  const std::vector<Tensor> g = chunk(linear(a.x, w_ih, b_ih) + linear(a.h, w_hh, b_hh), 4, 1);
  const Tensor c_new = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  const Tensor h_new = sigmoid(g[3]) * tanh(c_new);
  return {unbatch(h_new, a.batched), unbatch(c_new, a.batched)};
}

Tensor gru_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh) {
  GRAFT_RECORD_FUNCTION("gru_cell", input, hx, w_ih, w_hh, b_ih, b_hh);
  const CellArgs a = check_cell("gru_cell", 3, input, hx, w_ih, w_hh, b_ih, b_hh);
  const std::vector<Tensor> gi = chunk(linear(a.x, w_ih, b_ih), 3, 1), gh = chunk(linear(a.h, w_hh, b_hh), 3, 1);
  const Tensor r = sigmoid(gi[0] + gh[0]), z = sigmoid(gi[1] + gh[1]);
  const Tensor n = tanh(gi[2] + r * gh[2]);
  return unbatch(n + z * (a.h - n), a.batched);
}

std::tuple<Tensor, Tensor, Tensor> rnn_layer(std::string_view mode_name, const Tensor& input, const Tensor& h0,
                                             const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                                             const Tensor& b_hh, const Tensor& w_hr, const Tensor& lengths, bool reverse) {
  GRAFT_RECORD_FUNCTION("rnn_layer", input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths);
  constexpr const char* op = "rnn_layer";
  const RnnMode mode = rnn_mode_of(mode_name);
  const bool lstm = mode == RnnMode::Lstm;
  const int64_t gates = kernels::rnn_gate_count(mode);
  check_defined(op, "input", input);
  check_defined(op, "weight_hh", w_hh);
  check_floating_input(op, input);
  GRAFT_CHECK(input.dim() == 3 && input.shape()[0] > 0,
              "{}: expected an input of shape (T, B, input_size) with T > 0, got {}", op, shape_str(input.shape()));
  GRAFT_CHECK(w_hh.dim() == 2 && w_hh.shape()[0] % gates == 0 && w_hh.shape()[0] > 0,
              "{}: expected weight_hh of shape ({} * hidden_size, state size) for mode {}, got {}", op, gates, mode_name,
              shape_str(w_hh.shape()));
  GRAFT_CHECK(!w_hr.defined() || lstm, "{}: only an LSTM takes a projection (w_hr), got mode {}", op, mode_name);
  const int64_t steps = input.shape()[0], batch = input.shape()[1], in = input.shape()[2];
  const int64_t hidden = w_hh.shape()[0] / gates, state = w_hr.defined() ? w_hr.shape()[0] : hidden;
  const DType dt = input.dtype();
  check_arg(op, "weight_ih", w_ih, {gates * hidden, in}, dt, false);
  check_arg(op, "weight_hh", w_hh, {gates * hidden, state}, dt, false);
  check_arg(op, "bias_ih", b_ih, {gates * hidden}, dt, true);
  check_arg(op, "bias_hh", b_hh, {gates * hidden}, dt, true);
  check_arg(op, "weight_hr", w_hr, {state, hidden}, dt, true);
  check_arg(op, "h0", h0, {batch, state}, dt, false);
  if (lstm) check_arg(op, "c0", c0, {batch, hidden}, dt, false);
  else GRAFT_CHECK(!c0.defined(), "{}: only an LSTM has a cell state, got c0 of shape {} for mode {}", op, shape_str(c0.shape()), mode_name);
  const kernels::RnnSequence seq = sequence_of(lengths, steps, batch, reverse);
  if (is_reduced_floating(dt)) {  // the fused kernels are float32/float64: run on float32 copies, round once
    const auto f = float32_copy;
    auto [output, h_n, c_n] = rnn_layer(mode_name, f(input), f(h0), f(c0), f(w_ih), f(w_hh), f(b_ih), f(b_hh), f(w_hr),
                                        lengths, reverse);
    return {to(output, dt), to(h_n, dt), c_n.defined() ? to(c_n, dt) : c_n};
  }

  const kernels::RnnWeights weights{w_ih, w_hh, b_ih, b_hh, w_hr};
  kernels::RnnForward fwd = kernels::rnn_forward(mode, input, h0, c0, weights, seq);
  if (auto node = make_node(node_name(mode), {input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr},
                            [mode, seq](Node& n, GradList& g) -> GradList {
                              const RnnLayerInputs in{n.saved(0), n.saved(1), n.saved(2), n.saved(3),
                                                      n.saved(4), n.saved(5), n.saved(6), n.saved(7)};
                              const Tensor gc = g.size() > 2 ? g[2] : Tensor();
                              if (autograd::needs_recording({g[0], g[1], gc, in.x, in.h0, in.c0, in.w_ih, in.w_hh,
                                                             in.b_ih, in.b_hh, in.w_hr})) {
                                TensorList r = rnn_layer_backward_composite(mode, in, seq, g[0], g[1], gc);
                                return {r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]};
                              }
                              kernels::RnnForward saved;
                              saved.h_prev = n.saved(8);
                              saved.c_prev = n.saved(9);
                              saved.gates = n.saved(10);
                              saved.aux = n.saved(11);
                              std::vector<bool> wanted;
                              for (size_t i = 0; i < 8; ++i) wanted.push_back(n.needs_input_grad(i));
                              const kernels::RnnGrads r = kernels::rnn_backward(
                                  mode, saved, in.x, {in.w_ih, in.w_hh, in.b_ih, in.b_hh, in.w_hr}, seq, g[0], g[1], gc,
                                  wanted);
                              return {r.x, r.h0, r.c0, r.w_ih, r.w_hh, r.b_ih, r.b_hh, r.w_hr};
                            })) {
    set_history(fwd.output, node);
    set_history(fwd.h_n, node);
    if (lstm) set_history(fwd.c_n, node);
    for (const Tensor& t : {input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr}) node->save(t);
    for (const Tensor& t : {fwd.h_prev, fwd.c_prev, fwd.gates, fwd.aux}) node->save(t);
  }
  return {fwd.output, fwd.h_n, fwd.c_n};
}

}  // namespace graft::nn::functional
