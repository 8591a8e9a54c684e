#pragma once
// The cases of tests/reference/mha.json (torch.nn.MultiheadAttention in torch 1.13, float64): modules built
// from their configuration and state dict, their inputs and masks, and a check that a forward through any
// module with MultiheadAttention's forward signature gives torch's output, weights and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "graft/graft.h"
#include "ops/torch_reference.h"

namespace graft::testing::mha_reference {

inline const nlohmann::json& cases() { return torch_reference::load("mha.json").at("cases"); }

inline Tensor decode(const nlohmann::json& j, DType dt) {
  Tensor t = torch_reference::to_tensor(j, kFloat64);
  if (j.contains("dtype") && j.at("dtype") == "bool") return ne(t, 0.0);
  return t.to(dt);
}

// A graft MultiheadAttention with the case's configuration, state dict and mode.
inline std::shared_ptr<nn::MultiheadAttention> make_module(const nlohmann::json& c, DType dt) {
  const auto& cfg = c.at("config");
  auto m = std::make_shared<nn::MultiheadAttention>(
      cfg.at("embed_dim").get<int64_t>(), cfg.at("num_heads").get<int64_t>(), cfg.at("dropout").get<double>(),
      cfg.at("bias").get<bool>(), cfg.at("add_bias_kv").get<bool>(), cfg.at("add_zero_attn").get<bool>(),
      cfg.at("kdim").get<int64_t>(), cfg.at("vdim").get<int64_t>(), cfg.at("batch_first").get<bool>(), dt);
  nn::StateDict state;
  for (const auto& [name, t] : c.at("state_dict").items()) state.emplace_back(name, decode(t, dt));
  m->load_state_dict(state);
  m->train(cfg.at("training").get<bool>());
  return m;
}

// The arguments of one call: the leaves (query, and key and value when they are other tensors) and masks.
struct Call {
  nn::Named<Tensor> leaves;  // "query", "key", "value" as in the case's input_grads
  Tensor query, key, value, key_padding_mask, attn_mask;
  bool need_weights, average_attn_weights, is_causal;
};

inline Call make_call(const nlohmann::json& c, DType dt) {
  Call call;
  const auto& inputs = c.at("inputs");  // "query", and "key" and "value" when they are other tensors
  for (const char* name : {"query", "key", "value"})
    if (inputs.contains(name)) call.leaves.emplace_back(name, decode(inputs.at(name), dt).requires_grad_(true));
  call.query = call.leaves[0].second;
  call.key = call.leaves.size() > 1 ? call.leaves[1].second : call.query;
  call.value = call.leaves.size() > 2 ? call.leaves[2].second : call.key;
  const auto& masks = c.at("masks");
  if (masks.contains("key_padding_mask")) call.key_padding_mask = decode(masks.at("key_padding_mask"), dt);
  if (masks.contains("attn_mask")) call.attn_mask = decode(masks.at("attn_mask"), dt);
  const auto& args = c.at("call");
  call.need_weights = args.at("need_weights").get<bool>();
  call.average_attn_weights = args.at("average_attn_weights").get<bool>();
  call.is_causal = args.at("is_causal").get<bool>();
  return call;
}

// Largest |got - want| / (1 + |want|): within `tol` means within tol absolutely and relatively.
inline double max_error(const Tensor& got, const Tensor& want) {
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_neg_inf = std::isinf(g[i]) && std::isinf(w[i]) && g[i] < 0 && w[i] < 0;
    worst = std::max(worst, both_neg_inf ? 0.0 : std::abs(g[i] - w[i]) / (1 + std::abs(w[i])));
  }
  return std::isnan(worst) ? INFINITY : worst;
}

inline void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << " is undefined";
  ASSERT_EQ(shape_str(got.shape()), shape_str(want.shape())) << what;
  EXPECT_LE(max_error(got, want), tol) << what;
}

// Forward of the module under test, and the gradient it gives to the torch parameter named `name`.
using Forward = std::function<std::tuple<Tensor, Tensor>(const Call&)>;
using ParamGrad = std::function<Tensor(const std::string& torch_name)>;

// Runs case `c` and compares the output, the weights (or their absence), and the gradients of the inputs
// and of every parameter with torch's.
inline void check_case(const nlohmann::json& c, const Call& call, const Forward& forward, const ParamGrad& param_grad,
                       DType dt, double tol) {
  const std::string name = c.at("name").get<std::string>() + " (" + dtype_name(dt) + ")";
  auto [out, weights] = forward(call);
  expect_close(out, decode(c.at("out"), dt), tol, name + ": output");
  Tensor loss = sum(mul(out, decode(c.at("grad_out"), dt)));
  if (call.need_weights) {
    expect_close(weights, decode(c.at("weights"), dt), tol, name + ": weights");
    loss = add(loss, sum(mul(weights, decode(c.at("grad_weights"), dt))));
  } else {
    EXPECT_FALSE(weights.defined()) << name << ": need_weights=false returns no weights";
  }
  loss.backward();
  for (const auto& [input, t] : call.leaves)
    expect_close(t.grad(), decode(c.at("input_grads").at(input), dt), tol, name + ": gradient of " + input);
  for (const auto& [param, g] : c.at("param_grads").items())
    expect_close(param_grad(param), decode(g, dt), tol, name + ": gradient of " + param);
}

// The gradient that `m`'s parameters give the MultiheadAttention parameter `name` (in_proj_weight's row
// blocks are q_proj's, k_proj's and v_proj's weights when m has no fused in_proj).
inline Tensor eager_grad_as_mha(const nn::EagerMultiheadAttention& m, const std::string& name) {
  auto stacked = [&](auto member) {
    if (m.use_in_proj) return (m.in_proj.get()->*member).grad();
    return cat({(m.q_proj.get()->*member).grad(), (m.k_proj.get()->*member).grad(), (m.v_proj.get()->*member).grad()}, 0);
  };
  if (name == "in_proj_weight") return stacked(&nn::Linear::weight);
  if (name == "in_proj_bias") return stacked(&nn::Linear::bias);
  if (name == "q_proj_weight") return m.q_proj->weight.grad();
  if (name == "k_proj_weight") return m.k_proj->weight.grad();
  if (name == "v_proj_weight") return m.v_proj->weight.grad();
  if (name == "bias_k") return m.bias_k.grad();
  if (name == "bias_v") return m.bias_v.grad();
  if (name == "out_proj.weight") return m.out_proj->weight.grad();
  if (name == "out_proj.bias") return m.out_proj->bias.grad();
  ADD_FAILURE() << "no MultiheadAttention parameter " << name;
  return Tensor();
}

inline Tensor mha_grad(const nn::Module& m, const std::string& name) {
  for (const auto& [n, p] : m.named_parameters())
    if (n == name) return p.grad();
  ADD_FAILURE() << "no parameter " << name;
  return Tensor();
}

// Tolerances against torch's float64 values.
inline double tolerance(DType dt) { return dt == kFloat64 ? 1e-10 : 1e-5; }

}  // namespace graft::testing::mha_reference
