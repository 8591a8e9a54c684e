// Uses the extension API as an installed package, as a user's own project would: a custom op
// (autograd::Function) checked by gradcheck and gradgradcheck, a custom module with a typed child and a
// forward hook trained for one step, and the MHA replacement reaching an attention kept as a member.
// Exits non-zero on any failure.
#include <cstdio>
#include <exception>
#include <string>

#include <graft/graft.h>

using namespace graft;
namespace F = graft::nn::functional;

namespace {

int failures = 0;
void expect(bool ok, const std::string& what) {
  std::printf("%s  %s\n", ok ? "ok    " : "FAILED", what.c_str());
  failures += ok ? 0 : 1;
}

// x * sigmoid(x) with its own backward, written in ops (so twice differentiable).
struct Swish : autograd::Function<Swish> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * sigmoid(x);
  }
  static TensorList backward(autograd::AutogradContext* ctx, TensorList grads) {
    Tensor x = ctx->get_saved_variables()[0];
    Tensor s = sigmoid(x);
    return {grads[0] * (s + x * s * (1 - s))};
  }
};

// A module of the user's own: a typed child and a custom op.
struct SwishBlock : nn::Module {
  nn::Child<nn::Linear> fc = register_module("fc", nn::Linear(4, 4));
  SwishBlock() : nn::Module("SwishBlock") {}
  Tensor forward(const Tensor& x) override { return Swish::apply(fc(x)); }
};

// Attention kept as a typed member, the normal C++ way.
struct AttentionBlock : nn::Module {
  nn::Child<nn::MultiheadAttention> attn =
      register_module("attn", nn::MultiheadAttention({.embed_dim = 8, .num_heads = 2, .batch_first = true}));
  AttentionBlock() : nn::Module("AttentionBlock") {}
  Tensor forward(const Tensor& x) override { return std::get<0>(attn(x, x, x)); }
};

}  // namespace

int main() {
  try {
    manual_seed(0);
    const auto f64 = dtype(kFloat64).requires_grad();
    auto swish = [](const TensorList& in) { return Swish::apply(in[0]); };
    expect(autograd::gradcheck(swish, {randn({3, 2}, f64)}), "custom op: gradcheck");
    expect(autograd::gradgradcheck(swish, {randn({3, 2}, f64)}), "custom op: gradgradcheck");

    SwishBlock block;
    int calls = 0;
    block.register_forward_hook([&](nn::Module&) { ++calls; });
    optim::SGD sgd(block.parameters(), optim::SGDOptions(0.1));
    Tensor x = randn({5, 4}), target = randn({5, 4});
    Tensor before = F::mse_loss(block(x), target);
    before.backward();
    sgd.step();
    Tensor after = F::mse_loss(block(x), target);
    expect(calls == 2, "custom module: the forward hook ran on each call");
    expect(after.item<double>() < before.item<double>(), "custom module: one SGD step lowers the loss");

    AttentionBlock model;
    Tensor q = randn({2, 3, 8});
    Tensor y0 = model(q);
    nn::replace_mha_with_eager(model, /*use_in_proj=*/false);
    expect(dynamic_cast<nn::EagerMultiheadAttention*>(model.attn.get()) != nullptr,
           "surgery: the member reaches the eager module");
    Tensor y1 = model(q);
    expect(allclose(y0, y1, 1e-5, 1e-6), "surgery: same outputs after the replacement");
    y1.sum().backward();
    int with_grad = 0;
    for (const Tensor& p : model.attn->parameters()) with_grad += p.grad().defined() ? 1 : 0;
    expect(with_grad == 8, "surgery: every eager parameter gets a gradient");
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer extension: %s\n", e.what());
    return 1;
  }
}
