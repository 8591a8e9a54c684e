// Recurrent ops (ops/rnn.h): registry entries for the cells and the fused rnn_layer, the cells against
// PyTorch's (tests/reference/rnn.py), rnn_layer against a loop of the cells (every mode, projections, lengths,
// both directions; values and gradients), long sequences, and bad input.
#include <gtest/gtest.h>

#include "graft/ops/kernels/backend.h"
#include "support/errors.h"
#include "support/op_registry.h"
#include "torch_reference.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;
namespace ref = graft::testing::torch_reference;

namespace {

int64_t gates_of(const std::string& mode) { return mode == "LSTM" ? 4 : mode == "GRU" ? 3 : 1; }

// A layer's arguments: x (T, B, I), h0, c0 and weights, drawn from seeds.
struct LayerArgs {
  std::string mode;
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr;
  TensorList list() const { return {x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr}; }
};

LayerArgs layer_args(const std::string& mode, int64_t T, int64_t B, int64_t I, int64_t H, DType dt, bool bias = true,
                     int64_t proj = 0, uint64_t seed = 1) {
  const int64_t G = gates_of(mode), P = proj > 0 ? proj : H;
  LayerArgs a;
  a.mode = mode;
  a.x = uniform({T, B, I}, dt, -1, 1, seed);
  a.h0 = uniform({B, P}, dt, -1, 1, seed + 1);
  if (mode == "LSTM") a.c0 = uniform({B, H}, dt, -1, 1, seed + 2);
  a.w_ih = uniform({G * H, I}, dt, -0.6, 0.6, seed + 3);
  a.w_hh = uniform({G * H, P}, dt, -0.6, 0.6, seed + 4);
  if (bias) {
    a.b_ih = uniform({G * H}, dt, -0.5, 0.5, seed + 5);
    a.b_hh = uniform({G * H}, dt, -0.5, 0.5, seed + 6);
  }
  if (proj > 0) a.w_hr = uniform({P, H}, dt, -0.6, 0.6, seed + 7);
  return a;
}

TensorList run_layer(const std::string& mode, const TensorList& in, const Tensor& lengths = {}, bool reverse = false) {
  auto [y, h, c] = F::rnn_layer(mode, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], lengths, reverse);
  return {y, h, c};
}

Sample layer_sample(std::string description, const LayerArgs& a, std::vector<int64_t> lengths = {}, bool reverse = false) {
  const std::string mode = a.mode;
  return {std::move(description), a.list(), [mode, lengths, reverse](const TensorList& in) {
            return run_layer(mode, in, lengths.empty() ? Tensor() : tensor(lengths), reverse);
          }};
}

GRAFT_REGISTER_OP({.name = "rnn_layer", .samples = [](DType dt) {
  return std::vector<Sample>{
      layer_sample("LSTM", layer_args("LSTM", 3, 2, 2, 3, dt)),
      layer_sample("LSTM with projection, lengths, reversed", layer_args("LSTM", 3, 3, 2, 3, dt, true, 2, 10), {3, 1, 2}, true),
      layer_sample("GRU, lengths", layer_args("GRU", 3, 2, 2, 3, dt, true, 0, 20), {2, 3}),
      layer_sample("GRU without bias, reversed", layer_args("GRU", 2, 2, 3, 2, dt, false, 0, 30), {}, true),
      layer_sample("RNN_TANH", layer_args("RNN_TANH", 3, 2, 2, 3, dt, true, 0, 40), {3, 2}),
      layer_sample("RNN_RELU", layer_args("RNN_RELU", 3, 2, 2, 3, dt, true, 0, 50))};
}, .atol = 1e-5, .rtol = 1e-3, .f32_rtol = 1e-4, .f32_atol = 1e-5});

Sample cell_sample(std::string description, TensorList in, std::function<Tensor(const TensorList&)> fn) {
  return sample(std::move(description), std::move(in), std::move(fn));
}

GRAFT_REGISTER_OP({.name = "rnn_tanh_cell", .samples = [](DType dt) {
  return std::vector<Sample>{cell_sample("batched", {uniform({2, 3}, dt, -1, 1, 1), uniform({2, 4}, dt, -1, 1, 2), uniform({4, 3}, dt, -1, 1, 3),
                                                     uniform({4, 4}, dt, -1, 1, 4), uniform({4}, dt, -1, 1, 5), uniform({4}, dt, -1, 1, 6)},
                                         [](const TensorList& in) { return F::rnn_tanh_cell(in[0], in[1], in[2], in[3], in[4], in[5]); })};
}});

GRAFT_REGISTER_OP({.name = "rnn_relu_cell", .samples = [](DType dt) {
  return std::vector<Sample>{cell_sample("unbatched, no bias", {uniform({3}, dt, -1, 1, 1), uniform({4}, dt, -1, 1, 2), uniform({4, 3}, dt, -1, 1, 3),
                                                                 uniform({4, 4}, dt, -1, 1, 4)},
                                         [](const TensorList& in) { return F::rnn_relu_cell(in[0], in[1], in[2], in[3]); })};
}});

GRAFT_REGISTER_OP({.name = "lstm_cell", .samples = [](DType dt) {
  return std::vector<Sample>{sample("batched, both outputs", {uniform({2, 3}, dt, -1, 1, 1), uniform({2, 2}, dt, -1, 1, 2), uniform({2, 2}, dt, -1, 1, 3),
                                                              uniform({8, 3}, dt, -1, 1, 4), uniform({8, 2}, dt, -1, 1, 5), uniform({8}, dt, -1, 1, 6)},
                                    [](const TensorList& in) {
                                      auto [h, c] = F::lstm_cell(in[0], in[1], in[2], in[3], in[4], in[5]);
                                      return h + c;
                                    })};
}});

GRAFT_REGISTER_OP({.name = "gru_cell", .samples = [](DType dt) {
  return std::vector<Sample>{cell_sample("batched", {uniform({2, 3}, dt, -1, 1, 1), uniform({2, 2}, dt, -1, 1, 2), uniform({6, 3}, dt, -1, 1, 3),
                                                     uniform({6, 2}, dt, -1, 1, 4), uniform({6}, dt, -1, 1, 5), uniform({6}, dt, -1, 1, 6)},
                                         [](const TensorList& in) { return F::gru_cell(in[0], in[1], in[2], in[3], in[4], in[5]); })};
}});

// ---------------------------------------------------------------- the cells against PyTorch

TEST(RnnCells, MatchPyTorch) {
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
    for (const auto& c : ref::reference_json("rnn.json").at("cells")) {
      SCOPED_TRACE(c.at("name").get<std::string>() + " " + dtype_name(dt));
      const auto& in = c.at("inputs");
      auto get = [&](const char* k) { return in.contains(k) ? ref::to_tensor(in.at(k), dt).requires_grad_() : Tensor(); };
      Tensor x = get("x"), h = get("h"), cx = get("c"), w_ih = get("w_ih"), w_hh = get("w_hh"), b_ih = get("b_ih"), b_hh = get("b_hh");
      const std::string op = c.at("op");
      Tensor y, yc;
      if (op == "lstm_cell") std::tie(y, yc) = F::lstm_cell(x, h, cx, w_ih, w_hh, b_ih, b_hh);
      else if (op == "gru_cell") y = F::gru_cell(x, h, w_ih, w_hh, b_ih, b_hh);
      else if (op == "rnn_tanh_cell") y = F::rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh);
      else y = F::rnn_relu_cell(x, h, w_ih, w_hh, b_ih, b_hh);
      EXPECT_TRUE(allclose(y.to(kFloat64), ref::to_tensor(c.at("y")), tol, tol)) << y;
      Tensor loss = (y * ref::to_tensor(c.at("v"), dt)).sum();
      if (yc.defined()) {
        EXPECT_TRUE(allclose(yc.to(kFloat64), ref::to_tensor(c.at("yc")), tol, tol)) << yc;
        loss = loss + (yc * ref::to_tensor(c.at("vc"), dt)).sum();
      }
      TensorList wrt;
      std::vector<std::string> names;
      for (const char* k : {"x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"})
        if (in.contains(k)) names.push_back(k);
      for (const std::string& k : names) {
        if (k == "x") wrt.push_back(x);
        else if (k == "h") wrt.push_back(h);
        else if (k == "c") wrt.push_back(cx);
        else if (k == "w_ih") wrt.push_back(w_ih);
        else if (k == "w_hh") wrt.push_back(w_hh);
        else if (k == "b_ih") wrt.push_back(b_ih);
        else wrt.push_back(b_hh);
      }
      TensorList g = autograd::grad({loss}, wrt);
      for (size_t i = 0; i < names.size(); ++i)
        EXPECT_TRUE(allclose(g[i].to(kFloat64), ref::to_tensor(c.at("grads").at(names[i])), tol, tol)) << "grad " << names[i];
    }
  }
}

// ---------------------------------------------------------------- the fused layer against a loop of cells

// rnn_layer's semantics written step by step with the cells (and ops, for the projection): entries past their
// length keep their state and output zero.
TensorList loop_of_cells(const LayerArgs& a, const std::vector<int64_t>& lengths, bool reverse) {
  const int64_t T = a.x.size(0), B = a.x.size(1);
  Tensor h = a.h0, c = a.c0;
  std::vector<Tensor> out(static_cast<size_t>(T));
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? T - 1 - k : k;
    const Tensor x_t = a.x.select(0, t);
    Tensor h_new, c_new;
    if (a.mode == "LSTM" && a.w_hr.defined()) {
      const std::vector<Tensor> g = chunk(F::linear(x_t, a.w_ih, a.b_ih) + F::linear(h, a.w_hh, a.b_hh), 4, 1);
      c_new = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
      h_new = F::linear(sigmoid(g[3]) * tanh(c_new), a.w_hr);
    } else if (a.mode == "LSTM") {
      std::tie(h_new, c_new) = F::lstm_cell(x_t, h, c, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
    } else if (a.mode == "GRU") {
      h_new = F::gru_cell(x_t, h, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
    } else if (a.mode == "RNN_TANH") {
      h_new = F::rnn_tanh_cell(x_t, h, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
    } else {
      h_new = F::rnn_relu_cell(x_t, h, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
    }
    if (lengths.empty()) {
      out[t] = h_new;
      h = h_new;
      c = c_new;
      continue;
    }
    std::vector<bool> on;
    for (int64_t b = 0; b < B; ++b) on.push_back(t < lengths[b]);
    const Tensor active = tensor(on, {B, 1});
    out[t] = where(active, h_new, 0.0);
    h = where(active, h_new, h);
    if (c.defined()) c = where(active, c_new, c);
  }
  return {stack(out, 0), h, c};
}

void expect_layer_matches_cells(const LayerArgs& a0, const std::vector<int64_t>& lengths, bool reverse, double tol) {
  auto prepared = [&] {
    LayerArgs a = a0;
    for (Tensor* t : {&a.x, &a.h0, &a.c0, &a.w_ih, &a.w_hh, &a.b_ih, &a.b_hh, &a.w_hr})
      if (t->defined()) *t = t->detach().clone().requires_grad_();
    return a;
  };
  LayerArgs fa = prepared(), ca = prepared();
  TensorList fused = run_layer(fa.mode, fa.list(), lengths.empty() ? Tensor() : tensor(lengths), reverse);
  TensorList cells = loop_of_cells(ca, lengths, reverse);
  auto loss = [&](const TensorList& outs) {
    Tensor l = (outs[0] * uniform(outs[0].shape(), outs[0].dtype(), -1, 1, 77)).sum() +
               (outs[1] * uniform(outs[1].shape(), outs[1].dtype(), -1, 1, 78)).sum();
    return outs[2].defined() ? l + (outs[2] * uniform(outs[2].shape(), outs[2].dtype(), -1, 1, 79)).sum() : l;
  };
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(fused[i].defined(), cells[i].defined());
    if (fused[i].defined()) {
      EXPECT_TRUE(allclose(fused[i], cells[i], tol, tol)) << "output " << i << "\n" << fused[i] << "\n" << cells[i];
    }
  }
  TensorList wrt_f, wrt_c;
  for (const Tensor& t : fa.list())
    if (t.defined()) wrt_f.push_back(t);
  for (const Tensor& t : ca.list())
    if (t.defined()) wrt_c.push_back(t);
  TensorList gf = autograd::grad({loss(fused)}, wrt_f), gc = autograd::grad({loss(cells)}, wrt_c);
  for (size_t i = 0; i < gf.size(); ++i) EXPECT_TRUE(allclose(gf[i], gc[i], tol, tol)) << "gradient " << i << "\n" << gf[i] << "\n" << gc[i];
}

TEST(RnnLayer, MatchesALoopOfCells) {
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-11 : 2e-5;
    for (const char* mode : {"LSTM", "GRU", "RNN_TANH", "RNN_RELU"})
      for (bool reverse : {false, true})
        for (const std::vector<int64_t>& lengths : {std::vector<int64_t>{}, std::vector<int64_t>{5, 2, 4, 1}}) {
          SCOPED_TRACE(std::string(mode) + (reverse ? " reversed" : "") + (lengths.empty() ? "" : " with lengths") + " " + dtype_name(dt));
          expect_layer_matches_cells(layer_args(mode, 5, 4, 3, 6, dt), lengths, reverse, tol);
        }
    SCOPED_TRACE("LSTM with projection");
    expect_layer_matches_cells(layer_args("LSTM", 4, 3, 3, 5, dt, true, 2), {4, 1, 3}, true, tol);
    expect_layer_matches_cells(layer_args("GRU", 4, 3, 3, 5, dt, false), {}, false, tol);
  }
}

// Sizes where the products run on sgemm and the gates on oneDNN; the reference loops must agree.
TEST(RnnLayer, FastKernelsAgreeWithTheLoops) {
  for (const char* mode : {"LSTM", "GRU"}) {
    SCOPED_TRACE(mode);
    const LayerArgs a = layer_args(mode, 6, 16, 24, 48, kFloat32);
    auto run = [&](bool reference) {
      ReferenceKernelsGuard guard(reference);
      TensorList in;
      for (const Tensor& t : a.list()) in.push_back(t.defined() ? t.detach().clone().requires_grad_() : t);
      TensorList out = run_layer(mode, in, tensor({6, 6, 5, 3, 6, 1, 2, 6, 6, 6, 4, 6, 6, 5, 6, 1}));
      TensorList wrt;
      for (const Tensor& t : in)
        if (t.defined()) wrt.push_back(t);
      TensorList g = autograd::grad({out[0].sum() + out[1].sum()}, wrt);
      g.insert(g.begin(), out[0]);
      return g;
    };
    TensorList fast = run(false), slow = run(true);
    for (size_t i = 0; i < fast.size(); ++i) EXPECT_TRUE(allclose(fast[i], slow[i], 1e-4, 1e-5)) << "result " << i;
  }
}

// The fused layer is one node however long the sequence: ten thousand steps forward and backward.
TEST(RnnLayer, TenThousandStepsAreOneNode) {
  LayerArgs a = layer_args("LSTM", 10000, 2, 2, 3, kFloat32);
  a.w_ih.requires_grad_();
  a.x.requires_grad_();
  auto [y, h, c] = F::rnn_layer("LSTM", a.x, a.h0, a.c0, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
  EXPECT_EQ(y.shape(), Shape({10000, 2, 3}));
  EXPECT_STREQ(y.grad_fn()->name(), "LstmLayerBackward0");
  EXPECT_STREQ(y.grad_fn()->next_edge(0).node->name(), "AccumulateGrad") << "x feeds the layer's node directly";
  TensorList g = autograd::grad({y.sum() + h.sum() + c.sum()}, {a.x, a.w_ih});
  EXPECT_EQ(g[0].shape(), a.x.shape());
  EXPECT_TRUE(std::isfinite(g[1].abs().sum().item<double>()));
}

TEST(RnnLayer, RejectsBadInput) {
  const LayerArgs a = layer_args("LSTM", 3, 2, 2, 3, kFloat32);
  expect_error([&] { F::rnn_layer("LSTMX", a.x, a.h0, a.c0, a.w_ih, a.w_hh); }, {"rnn_layer", "mode must be", "\"LSTMX\""});
  expect_error([&] { F::rnn_layer("LSTM", a.x.select(0, 0), a.h0, a.c0, a.w_ih, a.w_hh); }, {"rnn_layer", "(T, B, input_size)", "[2, 2]"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, a.c0, zeros({12, 3}), a.w_hh); }, {"rnn_layer", "weight_ih of shape [12, 2]", "[12, 3]"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, zeros({3, 3}), a.c0, a.w_ih, a.w_hh); }, {"rnn_layer", "h0 of shape [2, 3]", "[3, 3]"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, {}, a.w_ih, a.w_hh); }, {"rnn_layer", "'c0' is an undefined tensor"});
  expect_error([&] { F::rnn_layer("GRU", a.x, a.h0, a.c0, zeros({9, 2}), zeros({9, 3})); }, {"rnn_layer", "only an LSTM has a cell state"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, a.c0, a.w_ih, a.w_hh, {}, {}, {}, tensor({3, 4})); },
               {"rnn_layer", "lengths[1] = 4 is outside [1, 3]"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, a.c0, a.w_ih, a.w_hh, {}, {}, {}, tensor({3, 0})); }, {"rnn_layer", "lengths[1] = 0"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, a.c0, a.w_ih, a.w_hh, {}, {}, {}, tensor({3})); }, {"rnn_layer", "lengths", "shape [2]"});
  expect_error([&] { F::rnn_layer("LSTM", a.x, a.h0, a.c0, a.w_ih, a.w_hh.to(kFloat64)); }, {"rnn_layer", "weight_hh", "float32", "float64"});
  expect_error([&] { F::lstm_cell(zeros({2, 3}), zeros({2, 3}), {}, zeros({8, 3}), zeros({8, 2})); }, {"lstm_cell", "hidden state of shape [2, 2]", "[2, 3]"});
  expect_error([&] { F::gru_cell(zeros({2, 3}), {}, zeros({6, 4}), zeros({6, 2})); }, {"gru_cell", "weight_ih of shape [6, 3]", "[6, 4]"});
  expect_error([&] { F::rnn_tanh_cell(zeros({2, 2, 3}), {}, zeros({2, 3}), zeros({2, 2})); }, {"rnn_tanh_cell", "1-D (unbatched) or 2-D (batched)"});
}

}  // namespace
