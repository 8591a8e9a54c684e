// nn::TransformerLM: cached decoding equals the full pass for MHA, MQA, GQA and MLA; cache sizes; beam
// search reordering; causality; tied embeddings; names; training; errors.
#include <gtest/gtest.h>

#include <cstdio>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;
namespace F = graft::nn::functional;

namespace {

using K = nn::AttentionKind;

nn::TransformerLMConfig tiny(K kind, DType dt = kFloat32, int64_t q_lora_rank = 0) {
  nn::TransformerLMConfig c;
  c.vocab_size = 37;
  c.num_layers = 2;
  c.attention.kind = kind;
  c.attention.d_model = 32;
  c.attention.num_heads = 4;
  c.attention.num_kv_heads = 2;
  c.attention.kv_lora_rank = 16;
  c.attention.q_lora_rank = q_lora_rank;
  c.attention.qk_nope_head_dim = 8;
  c.attention.qk_rope_head_dim = 4;
  c.attention.v_head_dim = 8;
  c.attention.max_positions = 64;
  c.attention.dtype = dt;
  return c;
}

std::string label(const nn::TransformerLMConfig& c) {
  return fmt::format("{} {} q_lora_rank={}", nn::attention_kind_name(c.attention.kind), dtype_name(c.attention.dtype),
                     c.attention.q_lora_rank);
}

std::vector<nn::TransformerLMConfig> every_attention(DType dt) {
  return {tiny(K::MHA, dt), tiny(K::MQA, dt), tiny(K::GQA, dt), tiny(K::MLA, dt), tiny(K::MLA, dt, 12)};
}

TEST(TransformerLM, IncrementalDecodingGivesTheFullPassLogits) {
  // Prompt then one token at a time, and prompts followed by chunks of 2-3 tokens, for every attention.
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> schedules{
      {5, {1}}, {4, {2, 3}}, {3, {3}}, {1, {1}}, {13, {1}}};
  for (DType dt : {kFloat32, kFloat64})
    for (const auto& config : every_attention(dt)) {
      manual_seed(40);
      nn::TransformerLM model(config);
      Tensor tokens = randint(0, 37, {2, 13}, dtype(kInt64));
      NoGradGuard no_grad;
      Tensor full = model.forward(tokens);
      ASSERT_EQ(full.shape(), (Shape{2, 13, 37}));
      const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
      for (const auto& [prefill, steps] : schedules) {
        auto state = model.new_state(2);
        Tensor inc = run_in_chunks(tokens, prefill, steps, [&](const Tensor& t) { return model.forward(t, *state); });
        EXPECT_LT(max_abs_diff(inc, full), tol) << label(config) << " prefill " << prefill;
        EXPECT_EQ(state->length(), 13);
      }
    }
}

TEST(TransformerLM, MLACacheIsTheExpectedFractionOfMHA) {
  // DeepSeek-V2's proportions: kv_lora_rank = 4 head_dim, qk_rope_head_dim = head_dim / 2.
  const int64_t d = 64, H = 8, hd = d / H, layers = 2, B = 3, T = 20;
  auto config = [&](K kind) {
    nn::TransformerLMConfig c;
    c.vocab_size = 50;
    c.num_layers = layers;
    c.attention.kind = kind;
    c.attention.d_model = d;
    c.attention.num_heads = H;
    c.attention.num_kv_heads = 2;
    c.attention.kv_lora_rank = 4 * hd;
    c.attention.qk_rope_head_dim = hd / 2;
    c.attention.qk_nope_head_dim = hd;
    c.attention.v_head_dim = hd;
    return c;
  };
  Tensor tokens = randint(0, 50, {B, T}, dtype(kInt64));
  auto cache_bytes = [&](K kind) {
    nn::TransformerLM model(config(kind));
    auto state = model.new_state(B);
    NoGradGuard no_grad;
    model.forward(tokens.narrow(1, 0, 7), *state);
    for (int64_t t = 7; t < T; ++t) model.forward(tokens.narrow(1, t, 1), *state);
    auto& s = dynamic_cast<nn::TransformerLMState&>(*state);
    EXPECT_GE(s.bytes(), s.stored_bytes());  // allocated capacity runs ahead
    return static_cast<double>(s.stored_bytes());
  };
  const double mha = cache_bytes(K::MHA);
  EXPECT_EQ(mha, static_cast<double>(layers * B * T * 2 * H * hd * sizeof(float)));
  const double mla = cache_bytes(K::MLA) / mha, gqa = cache_bytes(K::GQA) / mha, mqa = cache_bytes(K::MQA) / mha;
  EXPECT_DOUBLE_EQ(mla, static_cast<double>(4 * hd + hd / 2) / (2 * H * hd));  // (d_c + d_h^R) / (2 H d_h)
  EXPECT_DOUBLE_EQ(mla, 2.25 / H);  // the paper: like GQA with 2.25 groups
  EXPECT_DOUBLE_EQ(gqa, 2.0 / H);
  EXPECT_DOUBLE_EQ(mqa, 1.0 / H);
  std::printf(
      "KV cache per token and layer, as a fraction of MHA's 2*H*head_dim = %lld elements (H=%lld, head_dim=%lld):\n"
      "  MHA 1.0000 | GQA (2 KV heads) %.4f | MQA %.4f | MLA (kv_lora_rank=%lld + qk_rope_head_dim=%lld) %.4f\n",
      static_cast<long long>(2 * H * hd), static_cast<long long>(H), static_cast<long long>(hd), gqa, mqa,
      static_cast<long long>(4 * hd), static_cast<long long>(hd / 2), mla);
}

TEST(TransformerLM, SelectReordersEveryLayerForBeamSearch) {
  for (const auto& config : {tiny(K::GQA), tiny(K::MLA)}) {
    manual_seed(41);
    nn::TransformerLM model(config);
    Tensor prompt = randint(0, 37, {2, 4}, dtype(kInt64));
    Tensor next = randint(0, 37, {3, 2}, dtype(kInt64));
    Tensor index = tensor(std::vector<int64_t>{1, 0, 1}, {3}, dtype(kInt64));
    NoGradGuard no_grad;
    auto state = model.new_state(2);
    model.forward(prompt, *state);
    state->select(index);
    Tensor logits = model.forward(next, *state);
    Tensor expected = model.forward(cat({index_select(prompt, 0, index), next}, 1)).narrow(1, 4, 2);
    EXPECT_LT(max_abs_diff(logits, expected), 1e-5) << label(config);
    EXPECT_EQ(dynamic_cast<nn::TransformerLMState&>(*state).batch(), 3);
  }
}

TEST(TransformerLM, ChangingAFutureTokenLeavesEarlierLogitsUnchanged) {
  for (const auto& config : every_attention(kFloat32)) {
    manual_seed(42);
    nn::TransformerLM model(config);
    std::vector<int64_t> ids{3, 14, 15, 9, 26, 5, 35, 8};
    Tensor a = tensor(ids, {1, 8}, dtype(kInt64));
    ids[5] = 11;
    Tensor b = tensor(ids, {1, 8}, dtype(kInt64));
    Tensor la = model.forward(a), lb = model.forward(b);
    EXPECT_EQ(max_abs_diff(la.narrow(1, 0, 5), lb.narrow(1, 0, 5)), 0.0) << label(config);
    EXPECT_GT(max_abs_diff(la.narrow(1, 5, 3), lb.narrow(1, 5, 3)), 1e-4) << label(config);
  }
}

TEST(TransformerLM, GradientsThroughCachedDecodingEqualThoseOfTheFullPass) {
  for (const auto& config : {tiny(K::GQA, kFloat64), tiny(K::MLA, kFloat64, 12)}) {
    manual_seed(43);
    auto module = std::make_shared<nn::TransformerLM>(config);  // parameters() needs a shared module
    nn::TransformerLM& model = *module;
    Tensor tokens = randint(0, 37, {2, 6}, dtype(kInt64));
    Tensor g = randn({2, 6, 37}, dtype(kFloat64));
    TensorList params = model.parameters();
    TensorList full = autograd::grad({model.forward(tokens)}, params, {g});
    auto state = model.new_state(2);
    Tensor inc = run_in_chunks(tokens, 3, {1, 2}, [&](const Tensor& t) { return model.forward(t, *state); });
    TensorList cached = autograd::grad({inc}, params, {g});
    for (size_t i = 0; i < params.size(); ++i) EXPECT_LT(max_abs_diff(cached[i], full[i]), 1e-10) << label(config) << " " << i;
  }
}

TEST(TransformerLM, StateDictNamesAreStable) {
  auto config = tiny(K::GQA);
  config.num_layers = 1;
  nn::TransformerLM model(config);
  EXPECT_EQ(names(model.state_dict()),
            (std::vector<std::string>{"embed_tokens.weight", "layers.0.norm1.weight", "layers.0.attn.q_proj.weight",
                                      "layers.0.attn.k_proj.weight", "layers.0.attn.v_proj.weight",
                                      "layers.0.attn.o_proj.weight", "layers.0.norm2.weight",
                                      "layers.0.ffn.w1.weight", "layers.0.ffn.w2.weight",
                                      "layers.0.ffn.w3.weight", "norm.weight", "lm_head.weight"}));
  // A second model loads the first one's weights and computes the same logits.
  nn::TransformerLM copy(config);
  copy.load_state_dict(model.state_dict());
  Tensor tokens = randint(0, 37, {1, 5}, dtype(kInt64));
  EXPECT_EQ(max_abs_diff(copy.forward(tokens), model.forward(tokens)), 0.0);
}

TEST(TransformerLM, FFNHiddenSizeComesFromTheConfig) {
  auto hidden = [](const nn::TransformerLMConfig& c) {
    nn::TransformerLM model(c);
    auto ffn = std::dynamic_pointer_cast<nn::FeedForward>(model.layer(0)->ffn());
    EXPECT_NE(ffn, nullptr);
    EXPECT_EQ(ffn->child("w3")->parameter("weight").shape(), (Shape{ffn->hidden, c.attention.d_model}));
    return ffn->hidden;
  };
  auto config = tiny(K::GQA);
  config.num_layers = 1;
  EXPECT_EQ(hidden(config), 88);  // int(2 * 4 * 32 / 3) = 85, rounded up to a multiple of 8
  config.ffn_multiple_of = 64;
  EXPECT_EQ(hidden(config), 128);
  config.ffn_hidden = 50;
  EXPECT_EQ(hidden(config), 50);
}

TEST(TransformerLM, PrintsLikePyTorch) {
  auto config = tiny(K::MQA);
  config.num_layers = 1;
  config.attention.d_model = 16;
  nn::TransformerLM model(config);
  // PyTorch's layout for the standard modules (torch 2.x's RMSNorm; Embedding, Linear, SiLU, Dropout as in 1.13).
  EXPECT_EQ(model.repr(), R"(TransformerLM(
  vocab_size=37, d_model=16, num_layers=1, attention=MQA, tie_embeddings=False
  (embed_tokens): Embedding(37, 16)
  (layers): ModuleList(
    (0): TransformerBlock(
      (norm1): RMSNorm((16,), eps=1e-06, elementwise_affine=True)
      (attn): MultiQueryAttention(
        d_model=16, num_heads=4, num_kv_heads=1, head_dim=4, rope=True
        (q_proj): Linear(in_features=16, out_features=16, bias=False)
        (k_proj): Linear(in_features=16, out_features=4, bias=False)
        (v_proj): Linear(in_features=16, out_features=4, bias=False)
        (o_proj): Linear(in_features=16, out_features=16, bias=False)
        (rotary): RotaryEmbedding(head_dim=4, max_positions=64, base=10000)
      )
      (norm2): RMSNorm((16,), eps=1e-06, elementwise_affine=True)
      (ffn): FeedForward(
        (w1): Linear(in_features=16, out_features=48, bias=False)
        (w2): Linear(in_features=48, out_features=16, bias=False)
        (w3): Linear(in_features=16, out_features=48, bias=False)
        (act): SiLU()
        (dropout): Dropout(p=0.0, inplace=False)
      )
    )
  )
  (norm): RMSNorm((16,), eps=1e-06, elementwise_affine=True)
  (lm_head): Linear(in_features=16, out_features=37, bias=False)
))");
}

TEST(TransformerLM, TiedEmbeddingsShareTheWeight) {
  auto config = tiny(K::MQA, kFloat64);
  config.tie_embeddings = true;
  manual_seed(44);
  nn::TransformerLM model(config);
  auto sd = names(model.state_dict());
  EXPECT_EQ(std::count(sd.begin(), sd.end(), "lm_head.weight"), 0);
  Tensor tokens = tensor(std::vector<int64_t>{1, 2, 3, 2}, {1, 4}, dtype(kInt64));
  Tensor x = model.child("embed_tokens")->forward(tokens);
  for (size_t i = 0; i < model.num_layers(); ++i) x = model.layer(i)->forward(x);
  Tensor expected = F::linear(model.child("norm")->forward(x), model.embedding_weight());
  EXPECT_LT(max_abs_diff(model.forward(tokens), expected), 1e-12);
  // The embedding gets gradient from the output layer (every row) and from the lookup (rows 1-3).
  Tensor g = autograd::grad({model.forward(tokens).sum()}, {model.embedding_weight()})[0];
  EXPECT_GT(g.narrow(0, 36, 1).abs().sum().item<double>(), 0.0);
  Tensor out_only = autograd::grad({F::linear(model.child("norm")->forward(x.detach()), model.embedding_weight()).sum()},
                                   {model.embedding_weight()})[0];
  EXPECT_LT(max_abs_diff(g.narrow(0, 4, 33), out_only.narrow(0, 4, 33)), 1e-12);
  EXPECT_GT(max_abs_diff(g.narrow(0, 1, 3), out_only.narrow(0, 1, 3)), 1e-6);
}

TEST(TransformerLM, LearnsASequenceAndDecodesItWithTheCache) {
  manual_seed(45);
  auto config = tiny(K::GQA);
  config.num_layers = 1;
  auto module = std::make_shared<nn::TransformerLM>(config);
  nn::TransformerLM& model = *module;
  std::vector<int64_t> seq{1, 7, 3, 7, 9, 2, 5, 3, 8, 4, 6, 0};
  Tensor input = tensor(std::vector<int64_t>(seq.begin(), seq.end() - 1), {1, 11}, dtype(kInt64));
  Tensor target = tensor(std::vector<int64_t>(seq.begin() + 1, seq.end()), {11}, dtype(kInt64));
  optim::Adam opt(model.parameters(), optim::AdamOptions().lr(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy(model.forward(input).view({11, 37}), target);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.05 * first);
  // Greedy decoding from the first token with the cache reproduces the sequence.
  NoGradGuard no_grad;
  auto state = model.new_state(1);
  std::vector<int64_t> out{seq[0]};
  Tensor logits = model.forward(tensor(std::vector<int64_t>{seq[0]}, {1, 1}, dtype(kInt64)), *state);
  while (out.size() < seq.size()) {
    out.push_back(logits.argmax(-1).item<int64_t>());
    logits = model.forward(tensor(std::vector<int64_t>{out.back()}, {1, 1}, dtype(kInt64)), *state);
  }
  EXPECT_EQ(out, seq);
}

TEST(TransformerLM, ModulesSwappedByReplaceModuleAreTheOnesThatRun) {
  manual_seed(46);
  auto model = std::make_shared<nn::TransformerLM>(tiny(K::GQA));
  Tensor tokens = randint(0, 37, {2, 6}, dtype(kInt64));
  NoGradGuard no_grad;
  Tensor before = model->forward(tokens);
  // A projection wrapped in a Sequential computes the same thing.
  nn::ModulePtr q = model->submodule("layers.0.attn.q_proj");
  model->replace_module("layers.0.attn.q_proj", std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{q}));
  EXPECT_EQ(max_abs_diff(model->forward(tokens), before), 0.0);
  // Another attention kind in layer 1: the model uses it, and new states get its cache.
  nn::AttentionConfig mla = tiny(K::MLA).attention;
  model->replace_module("layers.1.attn", nn::make_causal_attention(mla));
  Tensor after = model->forward(tokens);
  EXPECT_GT(max_abs_diff(after, before), 1e-3);
  auto state = model->new_state(2);
  EXPECT_STREQ(dynamic_cast<nn::TransformerLMState&>(*state).cache(1).kind(), "LatentKVCache");
  Tensor inc = run_in_chunks(tokens, 2, {1}, [&](const Tensor& t) { return model->forward(t, *state); });
  EXPECT_LT(max_abs_diff(inc, after), 1e-5);
  // Something that is not an attention cannot serve as one.
  model->replace_module("layers.1.attn", std::make_shared<nn::Linear>(32, 32));
  expect_error([&] { model->forward(tokens); }, "TransformerBlock: child 'attn' must be a CausalSelfAttention, got a Linear");
}

TEST(TransformerLM, RejectsMisuse) {
  nn::TransformerLM model(tiny(K::GQA));
  expect_error([&] { model.forward(randn({1, 3})); }, "tokens must be a (B, T) int64 tensor, got float32 of shape [1, 3]");
  expect_error([&] { model.forward(zeros({3}, dtype(kInt64))); }, "tokens must be a (B, T) int64 tensor");
  auto state = model.new_state(2);
  expect_error([&] { model.forward(zeros({3, 1}, dtype(kInt64)), *state); },
               "tokens have batch 3 but the decoding state holds 2 sequences");
  expect_error([&] { model.forward(zeros({2, 65}, dtype(kInt64)), *state); }, "65 more exceed max_positions=64");
  EXPECT_EQ(state->length(), 0);
  auto bad_ffn = tiny(K::GQA);
  bad_ffn.ffn_multiple_of = 0;
  expect_error([&] { nn::TransformerLM m(bad_ffn); }, "ffn_multiple_of must be positive, got 0");
  nn::TransformerLM other(tiny(K::MLA));
  auto foreign = other.new_state(2);
  expect_error([&] { model.forward(zeros({2, 1}, dtype(kInt64)), *foreign); }, "expected a KVCache (from new_cache()), got a LatentKVCache");
  expect_error([&] { state->select(tensor(std::vector<int64_t>{0, 2}, {2}, dtype(kInt64))); },
               "index 2 is out of range for a batch of 2 sequences");
  expect_error([&] { model.new_state(0); }, "batch must be positive");
  auto bad = tiny(K::GQA);
  bad.vocab_size = 0;
  expect_error([&] { nn::TransformerLM m(bad); }, "vocab_size must be positive");
}

}  // namespace
