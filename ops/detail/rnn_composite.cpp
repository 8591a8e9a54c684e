#include "graft/ops/detail/rnn_composite.h"

#include "graft/ops/activation.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/linear.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::detail {

namespace F = graft::nn::functional;
using kernels::RnnMode;

namespace {

// What one replayed step leaves for the backward pass.
struct Step {
  Tensor active;  // (B, 1) bool, or undefined when every entry runs this step
  Tensor h_prev, c_prev;
  Tensor i, f, g, o, tanh_c, h_raw;  // LSTM
  Tensor r, z, n, hn;                // GRU
  Tensor h_new;                      // plain RNN
};

// where(active, a, otherwise) for the entries that run the step.
Tensor select_active(const Tensor& active, const Tensor& a, const Tensor& otherwise) {
  return active.defined() ? where(active, a, otherwise) : a;
}
Tensor zero_inactive(const Tensor& active, const Tensor& a) { return active.defined() ? where(active, a, 0.0) : a; }

Tensor activity(const kernels::RnnSequence& seq, int64_t batch, int64_t t) {
  if (seq.lengths.empty()) return {};
  std::vector<bool> on;
  bool all = true;
  for (int64_t b = 0; b < batch; ++b) {
    on.push_back(t < seq.lengths[static_cast<size_t>(b)]);
    all = all && on.back();
  }
  return all ? Tensor() : tensor(on, {batch, 1});
}

Tensor add_or_set(const Tensor& sum, const Tensor& term) { return sum.defined() ? sum + term : term; }

}  // namespace

TensorList rnn_layer_backward_composite(RnnMode mode, const RnnLayerInputs& in, const kernels::RnnSequence& seq,
                                        const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n) {
  const int64_t steps = in.x.shape()[0], batch = in.x.shape()[1];
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru;
  const int64_t gates = kernels::rnn_gate_count(mode);

  // Replay the forward pass with ops.
  std::vector<Step> saved(static_cast<size_t>(steps));
  Tensor h = in.h0, c = in.c0;
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = seq.reverse ? steps - 1 - k : k;
    Step& s = saved[static_cast<size_t>(t)];
    s.active = activity(seq, batch, t);
    s.h_prev = h;
    s.c_prev = c;
    const Tensor xw = F::linear(in.x.select(0, t), in.w_ih, in.b_ih), hw = F::linear(h, in.w_hh, in.b_hh);
    Tensor h_new;
    if (lstm) {
      const std::vector<Tensor> p = chunk(xw + hw, gates, 1);
      s.i = sigmoid(p[0]), s.f = sigmoid(p[1]), s.g = tanh(p[2]), s.o = sigmoid(p[3]);
      const Tensor c_new = s.f * c + s.i * s.g;
      s.tanh_c = tanh(c_new);
      s.h_raw = s.o * s.tanh_c;
      h_new = in.w_hr.defined() ? F::linear(s.h_raw, in.w_hr) : s.h_raw;
      c = select_active(s.active, c_new, c);
    } else if (gru) {
      const std::vector<Tensor> px = chunk(xw, gates, 1), ph = chunk(hw, gates, 1);
      s.r = sigmoid(px[0] + ph[0]), s.z = sigmoid(px[1] + ph[1]), s.hn = ph[2];
      s.n = tanh(px[2] + s.r * s.hn);
      h_new = (1.0 - s.z) * s.n + s.z * h;
    } else {
      h_new = mode == RnnMode::Tanh ? tanh(xw + hw) : F::relu(xw + hw);
      s.h_new = h_new;
    }
    h = select_active(s.active, h_new, h);
  }

  // Back through time, by hand, with ops.
  Tensor dh = grad_h_n.defined() ? grad_h_n : zeros_like(in.h0);
  Tensor dc = lstm ? (grad_c_n.defined() ? grad_c_n : zeros_like(in.c0)) : Tensor();
  std::vector<Tensor> dx(static_cast<size_t>(steps));
  Tensor dw_ih, dw_hh, db_ih, db_hh, dw_hr;
  for (int64_t k = steps - 1; k >= 0; --k) {
    const int64_t t = seq.reverse ? steps - 1 - k : k;
    const Step& s = saved[static_cast<size_t>(t)];
    if (grad_output.defined()) dh = dh + zero_inactive(s.active, grad_output.select(0, t));
    Tensor dgx, dgh, carry;
    if (lstm) {
      Tensor dhr = dh;
      if (in.w_hr.defined()) {
        dw_hr = add_or_set(dw_hr, matmul(transpose(zero_inactive(s.active, dh), 0, 1), s.h_raw));
        dhr = matmul(dh, in.w_hr);
      }
      const Tensor dct = dc + dhr * s.o * (1.0 - s.tanh_c * s.tanh_c);
      dgx = cat({dct * s.g * s.i * (1.0 - s.i), dct * s.c_prev * s.f * (1.0 - s.f), dct * s.i * (1.0 - s.g * s.g),
                 dhr * s.tanh_c * s.o * (1.0 - s.o)},
                1);
      dc = select_active(s.active, dct * s.f, dc);
      dgh = dgx;
      carry = zeros_like(dh);
    } else if (gru) {
      const Tensor dn = dh * (1.0 - s.z) * (1.0 - s.n * s.n);
      const Tensor dz = dh * (s.h_prev - s.n) * s.z * (1.0 - s.z);
      const Tensor dr = dn * s.hn * s.r * (1.0 - s.r);
      dgx = cat({dr, dz, dn}, 1);
      dgh = cat({dr, dz, dn * s.r}, 1);
      carry = dh * s.z;
    } else {
      dgx = mode == RnnMode::Tanh ? dh * (1.0 - s.h_new * s.h_new) : where(s.h_new > 0.0, dh, 0.0);
      dgh = dgx;
      carry = zeros_like(dh);
    }
    dgx = zero_inactive(s.active, dgx);
    dgh = zero_inactive(s.active, dgh);
    carry = select_active(s.active, carry, dh);
    const Tensor x_t = in.x.select(0, t);
    dx[static_cast<size_t>(t)] = matmul(dgx, in.w_ih);
    dw_ih = add_or_set(dw_ih, matmul(transpose(dgx, 0, 1), x_t));
    dw_hh = add_or_set(dw_hh, matmul(transpose(dgh, 0, 1), s.h_prev));
    db_ih = add_or_set(db_ih, sum(dgx, {0}));
    db_hh = add_or_set(db_hh, sum(dgh, {0}));
    dh = carry + matmul(dgh, in.w_hh);
  }
  return {stack(dx, 0),
          dh,
          dc,
          dw_ih,
          dw_hh,
          in.b_ih.defined() ? db_ih : Tensor(),
          in.b_hh.defined() ? db_hh : Tensor(),
          in.w_hr.defined() ? dw_hr : Tensor()};
}

}  // namespace graft::detail
