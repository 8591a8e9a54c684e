#include "graft/nn/modules/feed_forward.h"

#include "graft/nn/modules/activation.h"
#include "graft/nn/modules/dropout.h"
#include "graft/nn/modules/linear.h"
#include "graft/ops/operators.h"

namespace graft::nn {

namespace {

void check_kind(const std::string& kind) {
  GRAFT_CHECK(kind == "relu" || kind == "gelu" || kind == "swiglu",
              "FeedForward: kind must be 'relu', 'gelu' or 'swiglu', got '{}'", kind);
}

}  // namespace

int64_t FeedForward::default_hidden(int64_t d_model, const std::string& kind, int64_t multiple_of) {
  check_kind(kind);
  GRAFT_CHECK(d_model > 0, "FeedForward: d_model must be positive, got {}", d_model);
  GRAFT_CHECK(multiple_of > 0, "FeedForward: multiple_of must be positive, got {}", multiple_of);
  if (kind != "swiglu") return 4 * d_model;
  const int64_t two_thirds = 2 * (4 * d_model) / 3;  // LLaMA: int(2 * hidden / 3)
  return multiple_of * ((two_thirds + multiple_of - 1) / multiple_of);
}

FeedForward::FeedForward(int64_t d_model_, std::optional<int64_t> hidden_, std::string kind_, bool bias,
                         double p, int64_t multiple_of, DType dtype)
    : Module("FeedForward"),
      d_model(d_model_),
      hidden(hidden_ ? *hidden_ : default_hidden(d_model_, kind_, multiple_of)),
      kind(std::move(kind_)) {
  check_kind(kind);
  GRAFT_CHECK(d_model > 0, "FeedForward: d_model must be positive, got {}", d_model);
  GRAFT_CHECK(hidden > 0, "FeedForward: hidden must be positive, got {}", hidden);
  GRAFT_CHECK(p >= 0.0 && p <= 1.0, "FeedForward: dropout probability has to be between 0 and 1, but got {}", p);
  register_module("w1", std::make_shared<Linear>(d_model, hidden, bias, dtype));
  register_module("w2", std::make_shared<Linear>(hidden, d_model, bias, dtype));
  if (kind == "swiglu") register_module("w3", std::make_shared<Linear>(d_model, hidden, bias, dtype));
  register_module("act", make_activation(kind == "swiglu" ? "silu" : kind));
  register_module("dropout", std::make_shared<Dropout>(p));
}

Tensor FeedForward::forward(const Tensor& input) {
  Tensor h = (*child("act"))((*child("w1"))(input));
  if (kind == "swiglu") h = h * (*child("w3"))(input);
  return (*child("w2"))((*child("dropout"))(h));
}

}  // namespace graft::nn
