// replace_mha_with_eager: every MultiheadAttention of a model becomes an EagerMultiheadAttention with
// bitwise-equal weights, and outputs, attention weights and gradients (of inputs and of every parameter) agree
// for every kind of mask, in training and evaluation, with and without dropout: to 1e-10 in float64, and in
// float32 to 1e-6 for outputs and weights and kGradTol32 for gradients (see there).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "graft/graft.h"
#include "nn/mha_reference.h"

using namespace graft;
using namespace graft::testing::mha_reference;
using nn::EagerMultiheadAttention;
using nn::MultiheadAttention;
using nn::MultiheadAttentionBase;

namespace {

// |eager - mha| / (1 + |mha|) at most:
constexpr double kTol64 = 1e-10;
constexpr double kTol32 = 1e-6;  // outputs and attention weights
// Gradients in float32: the two modules round differently (the eager one scales the scores after q k^T,
// MultiheadAttention scales q before), and a parameter's gradient sums O(10)-sized products over the batch,
// the sequence and the heads, so single-precision rounding reaches ~1e-5 there. (The gradient of the key
// bias is zero in exact arithmetic, softmax being blind to a per-row constant; both modules give rounding
// noise of that size.) Float64 shows the two agree to 1e-10.
constexpr double kGradTol32 = 3e-5;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (!(a.shape() == b.shape()) || a.dtype() != b.dtype()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

// ---- one module against its eager twin ----

struct Dims {
  int64_t N, L, S, H;
  bool batched, batch_first;
};

struct Masks {
  std::string name;
  Tensor key_padding_mask, attn_mask;
  bool is_causal = false;
  bool self_attention = false;  // causal cases attend within one sequence
};

std::vector<Masks> mask_kinds(const Dims& d, DType dt, Generator& gen) {
  const int64_t heads_batch = d.batched ? d.N * d.H : d.H;
  const Shape kpm_shape = d.batched ? Shape{d.N, d.S} : Shape{d.S};
  auto bool_mask = [&](Shape shape, double p) {
    Tensor m = rand(shape, {}, &gen) < p;
    Shape first = shape;
    first.back() = 1;
    return cat({zeros(first, dtype(kBool)), narrow(m, -1, 1, shape.back() - 1)}, -1);  // key 0 always takes part
  };
  auto float_mask = [&](Shape shape) { return masked_fill(rand(shape, dtype(dt), &gen), bool_mask(shape, 0.3), -kInf); };
  std::vector<bool> row_1(d.L * d.S, false);
  for (int64_t j = 0; j < d.S; ++j) row_1[d.S + j] = true;
  Tensor full_row = tensor(row_1, {d.L, d.S});  // query 1 sees no key
  return {
      {"no mask", {}, {}},
      {"bool attn_mask (L, S)", {}, bool_mask({d.L, d.S}, 0.4)},
      {"float attn_mask (L, S)", {}, float_mask({d.L, d.S})},
      {"bool attn_mask (N*H, L, S)", {}, bool_mask({heads_batch, d.L, d.S}, 0.4)},
      {"float attn_mask (N*H, L, S)", {}, float_mask({heads_batch, d.L, d.S})},
      {"bool key_padding_mask", bool_mask(kpm_shape, 0.4), {}},
      {"float key_padding_mask", float_mask(kpm_shape), {}},
      {"bool key padding + bool attn_mask", bool_mask(kpm_shape, 0.3), bool_mask({d.L, d.S}, 0.3)},
      {"bool key padding + float attn_mask (N*H, L, S)", bool_mask(kpm_shape, 0.3), float_mask({heads_batch, d.L, d.S})},
      {"float key padding + bool attn_mask", float_mask(kpm_shape), bool_mask({d.L, d.S}, 0.3)},
      {"a fully masked row", {}, full_row},
      {"is_causal", {}, {}, true, true},
      {"is_causal + key padding", bool_mask(d.batched ? Shape{d.N, d.L} : Shape{d.L}, 0.3), {}, true, true},
  };
}

struct Outcome {
  Tensor out, weights;
  TensorList input_grads;
};

Outcome run(MultiheadAttentionBase& m, DType dt, const Dims& d, int64_t E, int64_t kdim, int64_t vdim,
            const Masks& masks, bool need_weights, bool average, uint64_t seed) {
  Generator gen(seed);
  auto seq = [&](int64_t len, int64_t dim) {
    Shape shape = !d.batched ? Shape{len, dim} : d.batch_first ? Shape{d.N, len, dim} : Shape{len, d.N, dim};
    return randn(shape, dtype(dt).requires_grad(), &gen);
  };
  Tensor q = seq(d.L, E);
  TensorList leaves{q};
  Tensor k = q, v = q;
  if (!masks.self_attention) {
    k = seq(d.S, kdim);
    v = seq(d.S, vdim);
    leaves = {q, k, v};
  }
  manual_seed(seed);  // the same dropout draws for both modules
  auto [out, weights] = m.forward(q, k, v, masks.key_padding_mask, need_weights, masks.attn_mask, average, masks.is_causal);
  Tensor loss = sum(mul(out, randn(out.shape(), dtype(dt), &gen)));
  if (weights.defined()) loss = add(loss, sum(mul(weights, randn(weights.shape(), dtype(dt), &gen))));
  loss.backward();
  Outcome o{out, weights, {}};
  for (const Tensor& t : leaves) o.input_grads.push_back(t.grad());
  return o;
}

// Compares mha and its eager twin on every mask kind, need_weights / average choice and mode; returns the
// number of comparisons made.
int compare_everywhere(MultiheadAttention& mha, EagerMultiheadAttention& eager, DType dt, const Dims& d) {
  Generator mask_gen(99);
  int compared = 0;
  const double tol = dt == kFloat64 ? kTol64 : kTol32, grad_tol = dt == kFloat64 ? kTol64 : kGradTol32;
  for (const Masks& masks : mask_kinds(d, dt, mask_gen)) {
    if (masks.self_attention && (mha.kdim != mha.embed_dim || mha.vdim != mha.embed_dim || d.L != d.S)) continue;
    for (double p : {0.0, 0.3}) {
      for (bool training : {true, false}) {
        mha.dropout = eager.dropout = p;
        mha.train(training);
        eager.train(training);
        for (int variant = 0; variant < 3; ++variant) {  // weights averaged, per head, or not returned
          const bool need_weights = variant < 2, average = variant == 0;
          const std::string what = masks.name + ", p=" + std::to_string(p) + (training ? ", train" : ", eval") +
                                   (need_weights ? (average ? ", averaged weights" : ", per-head weights") : ", no weights");
          SCOPED_TRACE(what);
          mha.zero_grad(true);
          eager.zero_grad(true);
          const uint64_t seed = 1000 + compared;
          Outcome a = run(mha, dt, d, mha.embed_dim, mha.kdim, mha.vdim, masks, need_weights, average, seed);
          Outcome b = run(eager, dt, d, mha.embed_dim, mha.kdim, mha.vdim, masks, need_weights, average, seed);
          expect_close(b.out, a.out, tol, "output");
          if (need_weights) expect_close(b.weights, a.weights, tol, "weights");
          else EXPECT_FALSE(b.weights.defined());
          for (size_t i = 0; i < a.input_grads.size(); ++i)
            expect_close(b.input_grads[i], a.input_grads[i], grad_tol, "gradient of input " + std::to_string(i));
          for (const auto& [name, p] : mha.named_parameters())
            expect_close(eager_grad_as_mha(eager, name), p.grad(), grad_tol, "gradient of " + name);
          ++compared;
        }
      }
    }
  }
  return compared;
}

struct Config {
  std::string name;
  std::function<std::shared_ptr<MultiheadAttention>()> make;
  Dims dims;
};

std::vector<Config> configs() {
  return {
      {"batch-first, 2 heads", [] { return std::make_shared<MultiheadAttention>(8, 2, 0.0, true, false, false, std::nullopt, std::nullopt, true); },
       {2, 4, 4, 2, true, true}},
      {"seq-first, 4 heads, L != S", [] { return std::make_shared<MultiheadAttention>(8, 4); }, {3, 3, 5, 4, true, false}},
      {"kdim and vdim", [] { return std::make_shared<MultiheadAttention>(8, 2, 0.0, true, false, false, 6, 4); },
       {2, 3, 5, 2, true, false}},
      {"add_bias_kv + add_zero_attn, batch-first",
       [] { return std::make_shared<MultiheadAttention>(6, 3, 0.0, true, true, true, std::nullopt, std::nullopt, true); },
       {2, 4, 4, 3, true, true}},
      {"unbatched, no bias", [] { return std::make_shared<MultiheadAttention>(8, 2, 0.0, false); }, {1, 4, 4, 2, false, false}},
  };
}

TEST(ReplaceMhaWithEager, EagerTwinAgreesOnEveryMaskModeAndOutput) {
  int compared = 0;
  for (DType dt : {kFloat64, kFloat32}) {
    for (const Config& config : configs()) {
      for (bool use_in_proj : {false, true}) {
        manual_seed(7);
        auto mha = config.make();
        if (use_in_proj && !mha->qkv_same_embed_dim) continue;
        mha->to(dt);
        {
          NoGradGuard g;  // random biases, so that every parameter matters
          for (Tensor p : mha->parameters()) p.copy_(mul(randn(p.shape(), dtype(dt)), 0.5));
        }
        SCOPED_TRACE(config.name + (use_in_proj ? ", fused in_proj, " : ", separate projections, ") + dtype_name(dt));
        auto eager = EagerMultiheadAttention::from(*mha, use_in_proj);
        compared += compare_everywhere(*mha, *eager, dt, config.dims);
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

// ---- whole models ----

class Block : public nn::Module {
 public:
  explicit Block(double dropout) : Module("Block") {
    register_module("attn", std::make_shared<MultiheadAttention>(8, 2, dropout, true, false, false, std::nullopt,
                                                                 std::nullopt, true));
    ff = register_module("ff", std::make_shared<nn::Linear>(8, 8));
  }
  Tensor forward(const Tensor& x) override {
    // Through the registered child, so that a replacement is used.
    auto attn = std::dynamic_pointer_cast<MultiheadAttentionBase>(child("attn"));
    auto [y, w] = attn->forward(x, x, x, {}, false, {}, true, true);
    return ff->forward(add(x, y));
  }
  std::shared_ptr<nn::Linear> ff;
};

class Encoder : public nn::Module {
 public:
  explicit Encoder(double dropout, bool with_cross = true) : Module("Encoder") {
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>(
                                           std::initializer_list<nn::ModulePtr>{std::make_shared<Block>(dropout),
                                                                                std::make_shared<Block>(dropout)}));
    if (with_cross)
      register_module("cross", std::make_shared<MultiheadAttention>(8, 2, dropout, true, false, false, 6, 6, true));
  }
  using Module::forward;
  std::tuple<Tensor, Tensor> forward(const Tensor& x, const Tensor& context, const Tensor& padding) {
    Tensor h = x;
    for (size_t i = 0; i < blocks->size(); ++i) h = (*blocks)[i]->forward(h);
    auto cross = std::dynamic_pointer_cast<MultiheadAttentionBase>(child("cross"));
    return cross->forward(h, context, context, padding, true, {}, false);
  }
  std::shared_ptr<nn::ModuleList> blocks;
};

TEST(ReplaceMhaWithEager, ReplacesEveryMultiheadAttentionAndCopiesWeightsBitwise) {
  manual_seed(1);
  auto holder = std::make_shared<Encoder>(0.0);  // modules live in shared_ptrs (submodule() needs it)
  Encoder& model = *holder;
  auto before = model.state_dict();
  std::vector<std::shared_ptr<MultiheadAttention>> old;
  for (const char* path : {"blocks.0.attn", "blocks.1.attn", "cross"})
    old.push_back(std::dynamic_pointer_cast<MultiheadAttention>(model.submodule(path)));
  std::vector<std::string> replaced = nn::replace_mha_with_eager(model, false);
  EXPECT_EQ(replaced, (std::vector<std::string>{"blocks.0.attn", "blocks.1.attn", "cross"}));
  for (size_t i = 0; i < replaced.size(); ++i) {
    auto eager = std::dynamic_pointer_cast<EagerMultiheadAttention>(model.submodule(replaced[i]));
    ASSERT_NE(eager, nullptr) << replaced[i];
    const MultiheadAttention& m = *old[i];
    const int64_t E = m.embed_dim;
    const Tensor w_q = m.qkv_same_embed_dim ? narrow(m.in_proj_weight, 0, 0, E) : m.q_proj_weight;
    const Tensor w_k = m.qkv_same_embed_dim ? narrow(m.in_proj_weight, 0, E, E) : m.k_proj_weight;
    const Tensor w_v = m.qkv_same_embed_dim ? narrow(m.in_proj_weight, 0, 2 * E, E) : m.v_proj_weight;
    EXPECT_TRUE(bitwise_equal(eager->q_proj->weight, w_q));
    EXPECT_TRUE(bitwise_equal(eager->k_proj->weight, w_k));
    EXPECT_TRUE(bitwise_equal(eager->v_proj->weight, w_v));
    EXPECT_TRUE(bitwise_equal(cat({eager->q_proj->bias, eager->k_proj->bias, eager->v_proj->bias}), m.in_proj_bias));
    EXPECT_TRUE(bitwise_equal(eager->out_proj->weight, m.out_proj->weight));
    EXPECT_TRUE(bitwise_equal(eager->out_proj->bias, m.out_proj->bias));
    EXPECT_FALSE(eager->q_proj->weight.is_same(m.in_proj_weight));  // copies, not views
  }
  // The other parameters are untouched; the attention's are renamed.
  auto after = model.state_dict();
  auto find = [](const nn::StateDict& state, const std::string& name) {
    for (const auto& [n, t] : state)
      if (n == name) return t;
    return Tensor();
  };
  EXPECT_TRUE(bitwise_equal(find(after, "blocks.1.ff.weight"), find(before, "blocks.1.ff.weight")));
  std::vector<std::string> names;
  for (const auto& [n, t] : after) names.push_back(n);
  EXPECT_EQ(names[0], "blocks.0.attn.q_proj.weight");
  EXPECT_EQ(names.back(), "cross.out_proj.bias");
  EXPECT_EQ(nn::replace_mha_with_eager(model, false), std::vector<std::string>{});  // nothing left to replace

  // The fused layout copies in_proj as it is.
  auto fused_holder = std::make_shared<Encoder>(0.0, false);
  Encoder& fused_model = *fused_holder;
  auto mha = std::dynamic_pointer_cast<MultiheadAttention>(fused_model.submodule("blocks.1.attn"));
  EXPECT_EQ(nn::replace_mha_with_eager(fused_model, true), (std::vector<std::string>{"blocks.0.attn", "blocks.1.attn"}));
  auto eager = std::dynamic_pointer_cast<EagerMultiheadAttention>(fused_model.submodule("blocks.1.attn"));
  EXPECT_TRUE(bitwise_equal(eager->in_proj->weight, mha->in_proj_weight));
  EXPECT_TRUE(bitwise_equal(eager->in_proj->bias, mha->in_proj_bias));
}

// The Encoder's parameter `name` after surgery, for the parameter of that name before it.
Tensor grad_after_surgery(nn::Module& eager_model, const std::string& name) {
  for (const char* path : {"blocks.0.attn", "blocks.1.attn", "cross"}) {
    const std::string prefix = std::string(path) + ".";
    if (name.rfind(prefix, 0) == 0) {
      auto eager = std::dynamic_pointer_cast<EagerMultiheadAttention>(eager_model.submodule(path));
      return eager_grad_as_mha(*eager, name.substr(prefix.size()));
    }
  }
  return mha_grad(eager_model, name);
}

TEST(ReplaceMhaWithEager, ModelsGiveTheSameOutputsAndGradientsAfterSurgery) {
  for (DType dt : {kFloat64, kFloat32}) {
  for (double p : {0.0, 0.25}) {
    for (bool training : {true, false}) {
      manual_seed(2);
      auto original_holder = std::make_shared<Encoder>(p), operated_holder = std::make_shared<Encoder>(p);
      Encoder &original = *original_holder, &operated = *operated_holder;
      original.to(dt);
      operated.to(dt);
      operated.load_state_dict(original.state_dict());
      nn::replace_mha_with_eager(operated, false);
      original.train(training);
      operated.train(training);
      Generator gen(5);
      Tensor x = randn({2, 5, 8}, dtype(dt), &gen), context = randn({2, 3, 6}, dtype(dt), &gen);
      Tensor padding = tensor({false, false, true, false, false, false}, {2, 3});
      Tensor grad_out = randn({2, 5, 8}, dtype(dt), &gen), grad_w = randn({2, 2, 5, 3}, dtype(dt), &gen);
      auto run_model = [&](Encoder& m) {
        manual_seed(11);
        auto [out, w] = m.forward(x, context, padding);
        add(sum(mul(out, grad_out)), sum(mul(w, grad_w))).backward();
        return std::make_pair(out, w);
      };
      auto [out_a, w_a] = run_model(original);
      auto [out_b, w_b] = run_model(operated);
      const std::string mode = std::string(dtype_name(dt)) + ", p=" + std::to_string(p) + (training ? " train" : " eval");
      const double tol = dt == kFloat64 ? kTol64 : kTol32, grad_tol = dt == kFloat64 ? kTol64 : kGradTol32;
      expect_close(out_b, out_a, tol, mode + ": output");
      expect_close(w_b, w_a, tol, mode + ": weights");
      for (const auto& [name, param] : original.named_parameters())
        expect_close(grad_after_surgery(operated, name), param.grad(), grad_tol, mode + ": gradient of " + name);
    }
  }
  }
}

TEST(ReplaceMhaWithEager, SharedModuleStaysShared) {
  auto holder = std::make_shared<nn::Sequential>();
  nn::Sequential& model = *holder;
  auto shared = std::make_shared<MultiheadAttention>(4, 2);
  model.push_back(shared);
  model.push_back(std::make_shared<nn::Linear>(4, 4));
  model.push_back(shared);
  EXPECT_EQ(nn::replace_mha_with_eager(model, true), std::vector<std::string>{"0"});
  EXPECT_EQ(model[0], model[2]);
  EXPECT_NE(std::dynamic_pointer_cast<EagerMultiheadAttention>(model[0]), nullptr);
}

TEST(ReplaceMhaWithEager, CopiesTheTrainingModeAndDtype) {
  auto holder = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{std::make_shared<MultiheadAttention>(
      4, 2, 0.1, true, false, false, std::nullopt, std::nullopt, false, kFloat64)});
  nn::Sequential& model = *holder;
  model.eval();
  nn::replace_mha_with_eager(model, false);
  auto eager = std::dynamic_pointer_cast<EagerMultiheadAttention>(model[0]);
  EXPECT_FALSE(eager->is_training());
  EXPECT_EQ(eager->q_proj->weight.dtype(), kFloat64);
  EXPECT_EQ(eager->dropout, 0.1);
}

TEST(ReplaceMhaWithEager, FailsWithoutChangingTheModel) {
  auto holder = std::make_shared<Encoder>(0.0);
  Encoder& model = *holder;
  try {
    nn::replace_mha_with_eager(model, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "replace_mha_with_eager: cannot replace 'cross' (nothing was replaced): EagerMultiheadAttention: "
                 "use_in_proj (one fused in_proj for q, k and v) needs kdim == vdim == embed_dim, got embed_dim=8 "
                 "kdim=6 vdim=6");
  }
  for (const char* path : {"blocks.0.attn", "blocks.1.attn", "cross"})
    EXPECT_NE(std::dynamic_pointer_cast<MultiheadAttention>(model.submodule(path)), nullptr) << path;
  MultiheadAttention root(4, 2);
  EXPECT_THROW(nn::replace_mha_with_eager(root, false), Error);
}

}  // namespace
