#include "graft/nn/modules/transformer_lm.h"

#include "graft/nn/modules/embedding.h"
#include "graft/nn/modules/normalization.h"
#include "graft/ops/linear.h"

namespace graft::nn {

namespace F = functional;

namespace {
constexpr const char* kOp = "TransformerLM";

const TransformerLMConfig& checked(const TransformerLMConfig& c) {
  GRAFT_CHECK(c.vocab_size > 0, "{}: vocab_size must be positive, got {}", kOp, c.vocab_size);
  GRAFT_CHECK(c.num_layers > 0, "{}: num_layers must be positive, got {}", kOp, c.num_layers);
  GRAFT_CHECK(c.attention.d_model > 0, "{}: attention.d_model must be positive, got {}", kOp, c.attention.d_model);
  return c;
}
}  // namespace

TransformerLMState::TransformerLMState(std::vector<std::unique_ptr<LayerCache>> caches, int64_t batch)
    : caches_(std::move(caches)), batch_(batch) {}

void TransformerLMState::select(const Tensor& index) {
  check_select_index("TransformerLMState", index, batch_);
  for (auto& c : caches_) c->select(index);
  batch_ = index.size(0);
}

size_t TransformerLMState::bytes() const {
  size_t total = 0;
  for (const auto& c : caches_) total += c->capacity_bytes();
  return total;
}

size_t TransformerLMState::stored_bytes() const {
  size_t total = 0;
  for (const auto& c : caches_) total += c->bytes();
  return total;
}

TransformerLM::TransformerLM(const TransformerLMConfig& c) : CausalLM("TransformerLM"), config(checked(c)) {
  const DType dtype = c.attention.dtype;
  register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.attention.d_model, std::nullopt, std::nullopt,
                                                               2.0, false, dtype));
  auto blocks = register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < c.num_layers; ++i)
    blocks->push_back(std::make_shared<TransformerBlock>(c.attention, c.ffn_hidden, c.norm_eps, c.ffn_multiple_of));
  register_module("norm", std::make_shared<RMSNorm>(IntList{c.attention.d_model}, c.norm_eps, true, dtype));
  if (!c.tie_embeddings)
    register_module("lm_head", std::make_shared<Linear>(c.attention.d_model, c.vocab_size, false, dtype));
}

std::shared_ptr<ModuleList> TransformerLM::layers() const {
  return child_as<ModuleList>("layers").ptr();
}

Tensor& TransformerLM::embedding_weight() const { return child("embed_tokens")->parameter("weight"); }

std::unique_ptr<DecoderState> TransformerLM::new_state(int64_t batch) {
  GRAFT_CHECK(batch > 0, "{}::new_state: batch must be positive, got {}", kOp, batch);
  std::vector<std::unique_ptr<LayerCache>> caches;
  for (size_t i = 0; i < num_layers(); ++i) caches.push_back(layer(i)->new_cache());
  return std::make_unique<TransformerLMState>(std::move(caches), batch);
}

Tensor TransformerLM::run(const Tensor& tokens, TransformerLMState* state) {
  GRAFT_CHECK(tokens.defined() && tokens.dtype() == kInt64 && tokens.dim() == 2,
              "{}: tokens must be a (B, T) int64 tensor, got {}", kOp,
              tokens.defined() ? fmt::format("{} of shape {}", dtype_name(tokens.dtype()), shape_str(tokens.shape()))
                               : std::string("an undefined tensor"));
  if (state) {
    GRAFT_CHECK(tokens.size(0) == state->batch(), "{}: tokens have batch {} but the decoding state holds {} sequences",
                kOp, tokens.size(0), state->batch());
    const int64_t max_positions = config.attention.max_positions;
    GRAFT_CHECK(state->length() + tokens.size(1) <= max_positions,
                "{}: the state holds {} tokens; {} more exceed max_positions={}", kOp, state->length(), tokens.size(1),
                max_positions);
    GRAFT_CHECK(state->num_layers() == num_layers(), "{}: the decoding state has {} layer caches, the model {} layers",
                kOp, state->num_layers(), num_layers());
  }
  Tensor h = (*child("embed_tokens"))(tokens);
  auto blocks = layers();
  for (size_t i = 0; i < blocks->size(); ++i)
    h = call(*blocks->at<TransformerBlock>(i), h, state ? &state->cache(i) : nullptr);
  h = (*child("norm"))(h);
  if (state) state->length_ += tokens.size(1);
  return config.tie_embeddings ? F::linear(h, embedding_weight()) : (*child("lm_head"))(h);
}

Tensor TransformerLM::forward(const Tensor& tokens) {
  return run(tokens, nullptr);
}

Tensor TransformerLM::forward(const Tensor& tokens, DecoderState& state) {
  auto* s = dynamic_cast<TransformerLMState*>(&state);
  GRAFT_CHECK(s != nullptr, "{}: the decoding state was not made by TransformerLM::new_state", kOp);
  return run(tokens, s);
}

std::string TransformerLM::extra_repr() const {
  return fmt::format("vocab_size={}, d_model={}, num_layers={}, attention={}, tie_embeddings={}", config.vocab_size,
                     config.attention.d_model, config.num_layers, attention_kind_name(config.attention.kind),
                     config.tie_embeddings ? "True" : "False");
}

}  // namespace graft::nn
