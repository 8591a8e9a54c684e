#include "graft/ops/kernels/rnn.h"

#include <algorithm>

#include "graft/graph/factory.h"
#include "graft/ops/kernels/activation.h"
#include "graft/graph/copy.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/matmul.h"

namespace graft::kernels {

int64_t rnn_gate_count(RnnMode mode) { return mode == RnnMode::Lstm ? 4 : mode == RnnMode::Gru ? 3 : 1; }

namespace {

// The (rows, cols) matrix starting `offset` elements into contiguous `t`, as the (1, rows, cols) operand bmm
// takes, and its transpose.
Tensor mat(const Tensor& t, int64_t rows, int64_t cols, int64_t offset = 0) {
  return make_view(t, {1, rows, cols}, {rows * cols, cols, 1}, t.storage_offset() + offset);
}
Tensor mat_t(const Tensor& t, int64_t rows, int64_t cols, int64_t offset = 0) {
  return make_view(t, {1, cols, rows}, {rows * cols, 1, cols}, t.storage_offset() + offset);
}

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t); }

Tensor activation(Activation kind, const Tensor& t) { return activation_forward({kind}, t); }

struct Dims {
  int64_t steps, batch, input, hidden, state, gates;  // T, B, I, H, P, G H
};

Dims dims_of(RnnMode mode, const Tensor& x, const RnnWeights& w) {
  const int64_t g = rnn_gate_count(mode);
  return {x.shape()[0], x.shape()[1], x.shape()[2], w.w_hh.shape()[0] / g, w.w_hh.shape()[1], w.w_hh.shape()[0]};
}

bool active(const RnnSequence& seq, int64_t b, int64_t t) {
  return seq.lengths.empty() || t < seq.lengths[static_cast<size_t>(b)];
}

// The time step processed k-th.
int64_t step_at(const RnnSequence& seq, const Dims& d, int64_t k) { return seq.reverse ? d.steps - 1 - k : k; }

// rows (n, cols) of out = bias (or zero), repeated.
template <class T>
void fill_rows(T* out, int64_t n, int64_t cols, const T* bias_a, const T* bias_b) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = (bias_a ? bias_a[j] : T(0)) + (bias_b ? bias_b[j] : T(0));
}

template <class T>
const T* ptr(const Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }

template <class T>
RnnForward forward_impl(RnnMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const RnnWeights& w,
                        const RnnSequence& seq) {
  const Dims d = dims_of(mode, x, w);
  const int64_t H = d.hidden, P = d.state, GH = d.gates, B = d.batch;
  const DType dt = x.dtype();
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru;
  RnnForward f;
  f.output = empty_tensor({d.steps, B, P}, dt);
  f.h_prev = empty_tensor({d.steps, B, P}, dt);
  f.gates = empty_tensor({d.steps, B, GH}, dt);
  if (lstm) f.c_prev = empty_tensor({d.steps, B, H}, dt);
  if (lstm || gru) f.aux = empty_tensor({d.steps, B, H}, dt);

  // The input projections of every step at once: x W_ih^T + b_ih (+ b_hh, which a GRU keeps for its n gate).
  Tensor xw = empty_tensor({d.steps, B, GH}, dt);
  fill_rows<T>(xw.data_ptr<T>(), d.steps * B, GH, ptr<T>(w.b_ih), gru ? nullptr : ptr<T>(w.b_hh));
  bmm(mat(x, d.steps * B, d.input), mat_t(w.w_ih, GH, d.input), mat(xw, d.steps * B, GH), /*accumulate=*/true);

  Tensor h = contiguous_copy(h0), c = lstm ? contiguous_copy(c0) : Tensor();
  Tensor hw = empty_tensor({B, GH}, dt), cell = lstm ? empty_tensor({B, H}, dt) : Tensor();
  Tensor h_raw = lstm ? empty_tensor({B, H}, dt) : Tensor();
  Tensor projected = w.w_hr.defined() ? empty_tensor({B, P}, dt) : Tensor();
  T *hp = h.data_ptr<T>(), *cp = lstm ? c.data_ptr<T>() : nullptr, *hwp = hw.data_ptr<T>();
  for (int64_t k = 0; k < d.steps; ++k) {
    const int64_t t = step_at(seq, d, k);
    std::copy_n(hp, B * P, f.h_prev.data_ptr<T>() + t * B * P);
    if (lstm) std::copy_n(cp, B * H, f.c_prev.data_ptr<T>() + t * B * H);
    // h W_hh^T, plus b_hh for a GRU (whose n gate scales that part by r).
    fill_rows<T>(hwp, B, GH, gru ? ptr<T>(w.b_hh) : nullptr, nullptr);
    bmm(mat(h, B, P), mat_t(w.w_hh, GH, P), mat(hw, B, GH), /*accumulate=*/true);
    const T* xwt = xw.data_ptr<T>() + t * B * GH;
    T* gates = f.gates.data_ptr<T>() + t * B * GH;
    T* out = f.output.data_ptr<T>() + t * B * P;
    const T* h_new = nullptr;  // (B, P) rows to take for the active entries
    if (lstm) {
      for (int64_t i = 0; i < B * GH; ++i) hwp[i] += xwt[i];
      const Tensor sig = activation(Activation::Sigmoid, hw), th = activation(Activation::Tanh, hw);
      const T *s = sig.data_ptr<T>(), *tg = th.data_ptr<T>();
      T* cn = cell.data_ptr<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const int64_t r = b * GH;
          const T ig = s[r + j], fg = s[r + H + j], gg = tg[r + 2 * H + j], og = s[r + 3 * H + j];
          gates[r + j] = ig, gates[r + H + j] = fg, gates[r + 2 * H + j] = gg, gates[r + 3 * H + j] = og;
          cn[b * H + j] = fg * cp[b * H + j] + ig * gg;
        }
      const Tensor tc = activation(Activation::Tanh, cell);
      const T* tcp = tc.data_ptr<T>();
      std::copy_n(tcp, B * H, f.aux.data_ptr<T>() + t * B * H);
      T* hr = h_raw.data_ptr<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) hr[b * H + j] = gates[b * GH + 3 * H + j] * tcp[b * H + j];
      if (projected.defined()) {
        bmm(mat(h_raw, B, H), mat_t(w.w_hr, P, H), mat(projected, B, P));
        h_new = projected.data_ptr<T>();
      } else {
        h_new = hr;
      }
      for (int64_t b = 0; b < B; ++b)
        if (active(seq, b, t)) std::copy_n(cn + b * H, H, cp + b * H);
    } else if (gru) {
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < 2 * H; ++j) gates[b * GH + j] = xwt[b * GH + j] + hwp[b * GH + j];
      const Tensor pre_rz = make_view(f.gates, {B, 2 * H}, {GH, 1}, f.gates.storage_offset() + t * B * GH);
      const Tensor rz = activation(Activation::Sigmoid, contiguous_copy(pre_rz));
      const T* rzp = rz.data_ptr<T>();
      Tensor pre_n = empty_tensor({B, H}, dt);
      T* pn = pre_n.data_ptr<T>();
      T* hn_saved = f.aux.data_ptr<T>() + t * B * H;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const T r = rzp[b * 2 * H + j], hn = hwp[b * GH + 2 * H + j];
          hn_saved[b * H + j] = hn;
          pn[b * H + j] = xwt[b * GH + 2 * H + j] + r * hn;
        }
      const Tensor n = activation(Activation::Tanh, pre_n);
      const T* np = n.data_ptr<T>();
      T* hnew = pn;  // reused: (B, H), H == P
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) {
          const T r = rzp[b * 2 * H + j], z = rzp[b * 2 * H + H + j], nv = np[b * H + j];
          gates[b * GH + j] = r, gates[b * GH + H + j] = z, gates[b * GH + 2 * H + j] = nv;
          hnew[b * H + j] = (T(1) - z) * nv + z * hp[b * H + j];
        }
      std::copy_n(hnew, B * H, hwp);  // keep it alive past pre_n's scope
      h_new = hwp;
    } else {
      for (int64_t i = 0; i < B * GH; ++i) hwp[i] += xwt[i];
      const Tensor a = activation(mode == RnnMode::Tanh ? Activation::Tanh : Activation::Relu, hw);
      std::copy_n(a.data_ptr<T>(), B * GH, gates);
      h_new = gates;
    }
    for (int64_t b = 0; b < B; ++b) {
      if (active(seq, b, t)) {
        std::copy_n(h_new + b * P, P, out + b * P);
        std::copy_n(h_new + b * P, P, hp + b * P);
      } else {
        std::fill_n(out + b * P, P, T(0));
      }
    }
  }
  f.h_n = h;
  f.c_n = c;
  return f;
}

// Column sums of a (rows, cols) matrix into out (cols), accumulated in double.
template <class T>
void column_sums(const T* m, int64_t rows, int64_t cols, T* out) {
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) acc[j] += m[r * cols + j];
  for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>(acc[j]);
}

template <class T>
RnnGrads backward_impl(RnnMode mode, const RnnForward& f, const Tensor& x, const RnnWeights& w, const RnnSequence& seq,
                       const Tensor& gy, const Tensor& ghn, const Tensor& gcn, const std::vector<bool>& wanted) {
  const Dims d = dims_of(mode, x, w);
  const int64_t H = d.hidden, P = d.state, GH = d.gates, B = d.batch, TB = d.steps * d.batch;
  const DType dt = x.dtype();
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru, proj = w.w_hr.defined();
  // Gate gradients on the input side (d(x W_ih^T)) and on the recurrent side (d(h W_hh^T)); they differ only
  // for a GRU, whose n gate sees r * (h W_hn^T + b_hn).
  Tensor dgx = empty_tensor({d.steps, B, GH}, dt);
  Tensor dgh = gru ? empty_tensor({d.steps, B, GH}, dt) : dgx;
  Tensor dh = ghn.defined() ? contiguous_copy(ghn) : zeros({B, P}, dt);
  Tensor dc = lstm ? (gcn.defined() ? contiguous_copy(gcn) : zeros({B, H}, dt)) : Tensor();
  Tensor dh_all = proj ? empty_tensor({d.steps, B, P}, dt) : Tensor();  // dL/dh of every step, for W_hr
  Tensor dh_raw = proj ? empty_tensor({B, H}, dt) : Tensor();
  Tensor carry = empty_tensor({B, P}, dt);
  const T* gyp = ptr<T>(gy);
  T *dhp = dh.data_ptr<T>(), *dcp = lstm ? dc.data_ptr<T>() : nullptr, *cr = carry.data_ptr<T>();
  for (int64_t k = d.steps - 1; k >= 0; --k) {
    const int64_t t = step_at(seq, d, k);
    for (int64_t b = 0; b < B; ++b)
      if (gyp && active(seq, b, t))
        for (int64_t j = 0; j < P; ++j) dhp[b * P + j] += gyp[(t * B + b) * P + j];
    const T* dhr = dhp;  // dL/d(o * tanh(c)) for an LSTM
    if (proj) {
      T* all = dh_all.data_ptr<T>() + t * B * P;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < P; ++j) all[b * P + j] = active(seq, b, t) ? dhp[b * P + j] : T(0);
      bmm(mat(dh, B, P), mat(w.w_hr, P, H), mat(dh_raw, B, H));
      dhr = dh_raw.data_ptr<T>();
    }
    const T* gates = f.gates.data_ptr<T>() + t * B * GH;
    const T* aux = f.aux.defined() ? f.aux.data_ptr<T>() + t * B * H : nullptr;
    T* gx = dgx.data_ptr<T>() + t * B * GH;
    T* gh = dgh.data_ptr<T>() + t * B * GH;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r = b * GH;
      if (!active(seq, b, t)) {  // the state passed through unchanged
        std::fill_n(gx + r, GH, T(0));
        if (gru) std::fill_n(gh + r, GH, T(0));
        std::copy_n(dhp + b * P, P, cr + b * P);
        continue;
      }
      if (lstm) {
        const T* cprev = f.c_prev.data_ptr<T>() + t * B * H;
        for (int64_t j = 0; j < H; ++j) {
          const T ig = gates[r + j], fg = gates[r + H + j], gg = gates[r + 2 * H + j], og = gates[r + 3 * H + j];
          const T tc = aux[b * H + j], g_h = dhr[b * H + j];
          const T dct = dcp[b * H + j] + g_h * og * (T(1) - tc * tc);
          gx[r + j] = dct * gg * ig * (T(1) - ig);
          gx[r + H + j] = dct * cprev[b * H + j] * fg * (T(1) - fg);
          gx[r + 2 * H + j] = dct * ig * (T(1) - gg * gg);
          gx[r + 3 * H + j] = g_h * tc * og * (T(1) - og);
          dcp[b * H + j] = dct * fg;
        }
        std::fill_n(cr + b * P, P, T(0));
      } else if (gru) {
        const T* hprev = f.h_prev.data_ptr<T>() + t * B * P;
        for (int64_t j = 0; j < H; ++j) {
          const T rg = gates[r + j], zg = gates[r + H + j], ng = gates[r + 2 * H + j], hn = aux[b * H + j];
          const T g_h = dhp[b * P + j];
          const T dn = g_h * (T(1) - zg) * (T(1) - ng * ng);
          const T dz = g_h * (hprev[b * P + j] - ng) * zg * (T(1) - zg);
          const T dr = dn * hn * rg * (T(1) - rg);
          gx[r + j] = gh[r + j] = dr;
          gx[r + H + j] = gh[r + H + j] = dz;
          gx[r + 2 * H + j] = dn;
          gh[r + 2 * H + j] = dn * rg;
          cr[b * P + j] = g_h * zg;
        }
      } else {
        for (int64_t j = 0; j < H; ++j) {
          const T hv = gates[r + j], g_h = dhp[b * P + j];
          gx[r + j] = mode == RnnMode::Tanh ? g_h * (T(1) - hv * hv) : (hv > T(0) ? g_h : T(0));
        }
        std::fill_n(cr + b * P, P, T(0));
      }
    }
    // dL/dh of the previous state: what passed through, plus through W_hh.
    std::copy_n(cr, B * P, dhp);
    bmm(mat(dgh, B, GH, t * B * GH), mat(w.w_hh, GH, P), mat(dh, B, P), /*accumulate=*/true);
  }

  RnnGrads g;
  if (wanted[1]) g.h0 = dh;
  if (wanted[2] && lstm) g.c0 = dc;
  if (wanted[0]) {
    g.x = empty_tensor(x.shape(), dt);
    bmm(mat(dgx, TB, GH), mat(w.w_ih, GH, d.input), mat(g.x, TB, d.input));
  }
  if (wanted[3]) {
    g.w_ih = empty_tensor(w.w_ih.shape(), dt);
    bmm(mat_t(dgx, TB, GH), mat(x, TB, d.input), mat(g.w_ih, GH, d.input));
  }
  if (wanted[4]) {
    g.w_hh = empty_tensor(w.w_hh.shape(), dt);
    bmm(mat_t(dgh, TB, GH), mat(f.h_prev, TB, P), mat(g.w_hh, GH, P));
  }
  if (wanted[5]) {
    g.b_ih = empty_tensor({GH}, dt);
    column_sums<T>(dgx.data_ptr<T>(), TB, GH, g.b_ih.data_ptr<T>());
  }
  if (wanted[6]) {
    g.b_hh = empty_tensor({GH}, dt);
    if (gru || !wanted[5]) column_sums<T>(dgh.data_ptr<T>(), TB, GH, g.b_hh.data_ptr<T>());
    else std::copy_n(g.b_ih.data_ptr<T>(), GH, g.b_hh.data_ptr<T>());
  }
  if (wanted[7] && proj) {
    // h = (o * tanh(c)) W_hr^T: dW_hr = sum over steps of dh^T (o * tanh(c)).
    Tensor h_raw = empty_tensor({d.steps, B, H}, dt);
    const T *gp = f.gates.data_ptr<T>(), *tp = f.aux.data_ptr<T>();
    T* hr = h_raw.data_ptr<T>();
    for (int64_t row = 0; row < TB; ++row)
      for (int64_t j = 0; j < H; ++j) hr[row * H + j] = gp[row * GH + 3 * H + j] * tp[row * H + j];
    g.w_hr = empty_tensor(w.w_hr.shape(), dt);
    bmm(mat_t(dh_all, TB, P), mat(h_raw, TB, H), mat(g.w_hr, P, H));
  }
  return g;
}

}  // namespace

RnnForward rnn_forward(RnnMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const RnnWeights& w,
                       const RnnSequence& seq) {
  const RnnWeights dw{dense(w.w_ih), dense(w.w_hh), dense(w.b_ih), dense(w.b_hh), dense(w.w_hr)};
  return dispatch_floating(x.dtype(), "rnn", [&]<class T>() { return forward_impl<T>(mode, dense(x), h0, c0, dw, seq); });
}

RnnGrads rnn_backward(RnnMode mode, const RnnForward& fwd, const Tensor& x, const RnnWeights& w, const RnnSequence& seq,
                      const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n,
                      const std::vector<bool>& wanted) {
  const RnnWeights dw{dense(w.w_ih), dense(w.w_hh), dense(w.b_ih), dense(w.b_hh), dense(w.w_hr)};
  return dispatch_floating(x.dtype(), "rnn_backward", [&]<class T>() {
    return backward_impl<T>(mode, fwd, dense(x), dw, seq, dense(grad_output), grad_h_n, grad_c_n, wanted);
  });
}

}  // namespace graft::kernels
