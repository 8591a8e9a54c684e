// The GQA + RoPE pre-norm block and multi-head latent attention against PyTorch 1.13 written with explicit
// ops (tests/reference/llm_block.py): outputs and the gradients of the input and of every parameter.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;

namespace {

nlohmann::json load_reference() {
  std::ifstream in(std::string(GRAFT_SOURCE_DIR) + "/tests/reference/llm_block.json");
  EXPECT_TRUE(in.good()) << "missing tests/reference/llm_block.json";
  return nlohmann::json::parse(in);
}

Tensor from_json(const nlohmann::json& j, DType dt) {
  Shape shape;
  for (const auto& d : j["shape"]) shape.push_back(d.get<int64_t>());
  return tensor(j["values"].get<std::vector<double>>(), shape, dtype(dt));
}

nn::StateDict state_dict(const nlohmann::json& j, DType dt) {
  nn::StateDict sd;
  for (const auto& [name, t] : j.items()) sd.emplace_back(name, from_json(t, dt));
  return sd;
}

// Loads the case's weights into `module`, runs `forward` and compares output and gradients.
void check_case(const nlohmann::json& c, nn::Module& module, DType dt, double tol,
                const std::function<Tensor(const Tensor&)>& forward) {
  module.to(dt);
  module.load_state_dict(state_dict(c["state_dict"], dt));
  Tensor x = from_json(c["x"], dt).requires_grad_();
  Tensor out = forward(x);
  EXPECT_LT(max_abs_diff(out, from_json(c["out"], kFloat64)), tol) << dtype_name(dt) << " output";
  auto named = module.named_parameters();
  TensorList wrt{x};
  for (const auto& [name, p] : named) wrt.push_back(p);
  TensorList grads = autograd::grad({out}, wrt, {from_json(c["grad_out"], dt)});
  EXPECT_LT(max_abs_diff(grads[0], from_json(c["grad_x"], kFloat64)), tol) << dtype_name(dt) << " grad x";
  ASSERT_EQ(named.size(), c["grads"].size());
  for (size_t i = 0; i < named.size(); ++i)
    EXPECT_LT(max_abs_diff(grads[i + 1], from_json(c["grads"][named[i].first], kFloat64)), tol)
        << dtype_name(dt) << " grad " << named[i].first;
}

TEST(LLMReference, GroupedQueryRopeBlockMatchesPyTorch) {
  const auto c = load_reference()["gqa_rope_block"];
  const auto& cfg = c["config"];
  for (auto [dt, tol] : {std::pair{kFloat64, 1e-12}, std::pair{kFloat32, 2e-5}}) {
    nn::AttentionConfig attn;
    attn.kind = nn::AttentionKind::GQA;
    attn.d_model = cfg["d_model"];
    attn.num_heads = cfg["num_heads"];
    attn.num_kv_heads = cfg["num_kv_heads"];
    attn.bias = true;
    auto module = std::make_shared<nn::TransformerBlock>(attn, cfg["ffn_hidden"].get<int64_t>(), cfg["norm_eps"].get<double>());
    nn::TransformerBlock& block = *module;
    check_case(c, block, dt, tol, [&](const Tensor& x) { return block.forward(x); });
    // The same block decoding token by token through a cache gives the same output.
    NoGradGuard no_grad;
    Tensor x = from_json(c["x"], dt);
    auto cache = block.new_cache();
    Tensor inc = run_in_chunks(x, 2, {1}, [&](const Tensor& t) { return block.forward(t, cache.get()); });
    EXPECT_LT(max_abs_diff(inc, from_json(c["out"], kFloat64)), tol) << dtype_name(dt) << " cached";
  }
}

TEST(LLMReference, MultiHeadLatentAttentionMatchesPyTorch) {
  const auto c = load_reference()["mla"];
  const auto& cfg = c["config"];
  for (auto [dt, tol] : {std::pair{kFloat64, 1e-12}, std::pair{kFloat32, 2e-5}}) {
    auto module = std::make_shared<nn::MultiHeadLatentAttention>(nn::MultiHeadLatentAttentionOptions{.d_model = cfg["d_model"],
                                      .num_heads = cfg["num_heads"],
                                      .kv_lora_rank = cfg["kv_lora_rank"],
                                      .qk_nope_head_dim = cfg["qk_nope_head_dim"],
                                      .qk_rope_head_dim = cfg["qk_rope_head_dim"],
                                      .v_head_dim = cfg["v_head_dim"],
                                      .q_lora_rank = cfg["q_lora_rank"],
                                      .norm_eps = cfg["norm_eps"].get<double>()});
    nn::MultiHeadLatentAttention& mla = *module;
    check_case(c, mla, dt, tol, [&](const Tensor& x) { return mla.forward(x); });
    // And through the absorbed cached path.
    check_case(c, mla, dt, tol, [&](const Tensor& x) {
      auto cache = mla.new_cache();
      return run_in_chunks(x, 2, {2, 1}, [&](const Tensor& t) { return mla.forward(t, cache.get()); });
    });
  }
}

}  // namespace
