// graft's benchmarks. Each workload is defined exactly as in the LibTorch anchor
// (../shared/anchors/libtorch/bench.cpp), so the figures compare as ratios when measured in one session.
// Prints one JSON object per line: {"workload":..., "metric":..., "value":...}
//   graft_bench [tiny|gemm|gemm-half|block|block-half|mlp|mlp64|cnn|lstm|decode|gemm-vs-sgemm|all] [--threads N]   (threads default: $BENCH_THREADS, else 2)
// tiny, gemm, block (gqa_block), mlp (mlp_fmnist; MLP_EPOCHS epochs, default 2) and mlp64 (mlp_fmnist_f64;
// MLP64_EPOCHS epochs, default 1) are the anchor's
// workloads; gemm-half is matmul_1024 in bfloat16 and float16, block-half gqa_block under bf16/f16 autocast; gemm-vs-sgemm times graft::matmul against a
// bare dnnl_sgemm in one process
// (../shared/anchors/onednn/gemm_probe.cpp is the same sgemm as a separate program).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <ctime>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graft/graft.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// CPU time of the whole process (all threads), in seconds. On a loaded machine wall time mostly measures
// the wait for a core; on one thread, CPU time is the work done. graft's extra cpu_* metrics report it.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// ordered_json keeps the keys in the anchors' order.
void emit(const std::string& workload, const std::string& metric, const nlohmann::ordered_json& value) {
  nlohmann::ordered_json line = {{"workload", workload}, {"metric", metric}, {"value", value}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

// Eager overhead: 300 tiny ops (16 floats) forward + backward per run; 20 warm-up runs, then `reps`.
void tiny_ops(int reps) {
  graft::Tensor x = graft::randn({16}, graft::requires_grad());
  auto run = [&] {
    graft::Tensor y = x;
    for (int i = 0; i < 100; ++i) y = graft::tanh(y * 1.01 + 0.1);
    y.sum().backward();
  };
  for (int i = 0; i < 20; ++i) run();
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) run();
  emit("tiny_ops", "us_per_op_fwd_bwd", seconds_between(t0, Clock::now()) / reps / 301 * 1e6);
}

// Raw matmul throughput through graft::matmul: one warm-up, then `reps` products. float32 is the anchor's
// workload ("matmul_1024"); bfloat16 ("matmul_1024_bf16") reports the path it took as well: oneDNN's bf16
// kernels where the CPU has AVX512_BF16, float32 copies elsewhere.
void matmul_1024(int reps, graft::DType dtype = graft::kFloat32) {
  graft::Tensor a = graft::randn({1024, 1024}, dtype), b = graft::randn({1024, 1024}, dtype);
  graft::matmul(a, b);
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) graft::matmul(a, b);
  const std::string name = dtype == graft::kFloat32 ? "matmul_1024" : std::string("matmul_1024_") +
                                                                          (dtype == graft::kBFloat16 ? "bf16" : "f16");
  emit(name, "gflops", 2.0 * 1024 * 1024 * 1024 * reps / seconds_between(t0, Clock::now()) / 1e9);
  if (dtype == graft::kBFloat16) emit(name, "path", graft::bf16_matmul_hardware() ? "onednn_bf16" : "convert_f32");
}

// graft::matmul against a bare dnnl_sgemm on the same operands, in alternating trials of `reps` products
// within one process, so machine noise hits both alike. The ratio of the two is the overhead graft adds
// around the library (the target is >= 0.9).
void matmul_vs_sgemm(int reps, int trials) {
  graft::Tensor a = graft::randn({1024, 1024}), b = graft::randn({1024, 1024});
  std::vector<float> c(1024 * 1024);
  auto sgemm = [&] {
    dnnl_sgemm('N', 'N', 1024, 1024, 1024, 1.f, a.data_ptr<float>(), 1024, b.data_ptr<float>(), 1024, 0.f, c.data(),
               1024);
  };
  auto matmul = [&] { graft::matmul(a, b); };
  auto gflops = [&](auto& product) {
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) product();
    return 2.0 * 1024 * 1024 * 1024 * reps / seconds_between(t0, Clock::now()) / 1e9;
  };
  sgemm();
  matmul();
  double best_graft = 0, best_sgemm = 0, sum_graft = 0, sum_sgemm = 0;
  for (int t = 0; t < trials; ++t) {
    double g = gflops(matmul), s = gflops(sgemm);
    best_graft = std::max(best_graft, g);
    best_sgemm = std::max(best_sgemm, s);
    sum_graft += g;
    sum_sgemm += s;
  }
  emit("matmul_1024_vs_sgemm", "graft_best_gflops", best_graft);
  emit("matmul_1024_vs_sgemm", "sgemm_best_gflops", best_sgemm);
  emit("matmul_1024_vs_sgemm", "best_ratio", best_graft / best_sgemm);
  emit("matmul_1024_vs_sgemm", "mean_ratio", sum_graft / sum_sgemm);
}

namespace F = graft::nn::functional;

// Training an MLP 784-512-256-10 (ReLU) on Fashion-MNIST with Adam 1e-3, batch 128, a fresh shuffle per
// epoch; the anchor's W1 line for line. Reports the mean training time per epoch (data gathering, forward,
// backward and update; the shuffle is outside the clock, as in the anchor) and the test accuracy after.
// With f64, the anchor's W1b (mlp_fmnist_f64): the weights initialised in float32 and converted, the images
// converted after /255.
void mlp_fmnist(const std::string& root, int epochs, bool f64 = false) {
  const std::string wl = f64 ? "mlp_fmnist_f64" : "mlp_fmnist";
  graft::manual_seed(0);                                  // torch::manual_seed(0);
  graft::data::FashionMNIST train(root, /*train=*/true);  // xtr, ytr = images(...), labels(...)
  graft::data::FashionMNIST test(root, /*train=*/false);  // xte, yte
  const graft::Tensor xtr = f64 ? train.inputs().to(graft::kFloat64) : train.inputs(), &ytr = train.targets();
  const graft::Tensor xte = f64 ? test.inputs().to(graft::kFloat64) : test.inputs();
  auto fc1 = std::make_shared<graft::nn::Linear>(784, 512);  // Sequential(Linear(784, 512), ReLU(),
  auto fc2 = std::make_shared<graft::nn::Linear>(512, 256);  //            Linear(512, 256), ReLU(),
  auto fc3 = std::make_shared<graft::nn::Linear>(256, 10);   //            Linear(256, 10))
  auto net = std::make_shared<graft::nn::Sequential>(std::initializer_list<graft::nn::ModulePtr>{fc1, fc2, fc3});
  if (f64) net->to(graft::kFloat64);  // net->to(torch::kFloat64)
  auto forward = [&](const graft::Tensor& x) { return fc3->forward(F::relu(fc2->forward(F::relu(fc1->forward(x))))); };
  graft::optim::Adam opt(net->parameters(), graft::optim::AdamOptions(1e-3));  // Adam(net->parameters(), 1e-3)
  const int64_t B = 128, N = xtr.size(0);
  double total = 0, total_cpu = 0, last_loss = 0;
  graft::reset_peak_memory_stats();
  for (int e = 0; e < epochs; ++e) {
    graft::Tensor perm = graft::randperm(N);  // auto perm = torch::randperm(N);
    auto t0 = Clock::now();
    const double cpu0 = process_cpu_seconds();
    for (int64_t i = 0; i + B <= N; i += B) {
      graft::Tensor idx = perm.slice(0, i, i + B);                                      // perm.slice(0, i, i + B)
      graft::Tensor x = graft::index_select(xtr, 0, idx), y = graft::index_select(ytr, 0, idx);  // index_select
      opt.zero_grad();                                                                  // opt.zero_grad();
      graft::Tensor loss = F::cross_entropy(forward(x), y);                             // cross_entropy(net(x), y)
      loss.backward();                                                                  // loss.backward();
      opt.step();                                                                       // opt.step();
      last_loss = loss.item<double>();                                                  // loss.item<double>()
    }
    total += seconds_between(t0, Clock::now());
    total_cpu += process_cpu_seconds() - cpu0;
  }
  graft::NoGradGuard no_grad;  // (net(xte).argmax(1) == yte).to(kFloat64).mean()
  const double accuracy = (forward(xte).argmax(1) == test.targets()).to(graft::kFloat64).mean().item<double>();
  emit(wl, "train_s_per_epoch", total / epochs);
  emit(wl, "test_accuracy", accuracy);
  emit(wl, "final_train_loss", last_loss);
  emit(wl, "train_cpu_s_per_epoch", total_cpu / epochs);
  emit(wl, "peak_memory_mb", graft::max_memory_allocated() / 1e6);  // the whole training set included
}

// 3 warm-up calls of `step`, then `steps` timed ones: wall and process CPU milliseconds per step.
template <class Step>
void time_training_steps(const std::string& workload, Step& step, int steps) {
  for (int i = 0; i < 3; ++i) step();
  graft::reset_peak_memory_stats();
  auto t0 = Clock::now();
  const double cpu0 = process_cpu_seconds();
  for (int i = 0; i < steps; ++i) step();
  emit(workload, "ms_per_step", seconds_between(t0, Clock::now()) / steps * 1e3);
  emit(workload, "cpu_ms_per_step", (process_cpu_seconds() - cpu0) / steps * 1e3);
  // Everything graft's tensors held at once during a step: model, optimizer state, data, activations.
  emit(workload, "peak_memory_mb", graft::max_memory_allocated() / 1e6);
}

// One pre-norm GQA transformer block (RMSNorm, RoPE, causal attention with 8 query heads over 2 key/value
// heads, SwiGLU), forward + backward + AdamW: the anchor's W3. graft computes the same functions with its
// fused ops where the anchor composes them; each line names the anchor's line it replaces.
// With `autocast`, the forward pass and the loss run under AutocastGuard (products in that dtype, the norms in
// float32), float32 master weights: "gqa_block_bf16" / "gqa_block_f16", graft only (the anchor has no such
// workload; its ratio to graft's own float32 block is what the README reports).
void gqa_block(int steps, std::optional<graft::DType> autocast = std::nullopt) {
  graft::manual_seed(0);  // torch::manual_seed(0);
  const int64_t B = 8, T = 128, D = 256, H = 8, KV = 2, HD = D / H, FF = 768;
  auto p = [](graft::IntList s) { return (graft::randn(s) * 0.02).detach().requires_grad_(); };  // (randn(s) * 0.02).requires_grad_()
  graft::Tensor wq = p({D, D}), wk = p({D, KV * HD}), wv = p({D, KV * HD}), wo = p({D, D});
  graft::Tensor w1 = p({D, FF}), w3 = p({D, FF}), w2 = p({FF, D});
  graft::Tensor g1 = graft::ones({D}).requires_grad_(), g2 = graft::ones({D}).requires_grad_();
  graft::optim::AdamW opt({wq, wk, wv, wo, w1, w3, w2, g1, g2}, graft::optim::AdamWOptions(1e-3));
  // inv = 10000^(-arange(0, HD/2) * 2 / HD); ang = arange(T)[:, None] * inv[None, :] (float32, as the anchor).
  graft::Tensor inv = graft::pow(10000.0, graft::arange(0, HD / 2, 1, graft::kFloat32) * (-2.0 / HD));
  graft::Tensor ang = graft::arange(T, graft::kFloat32).unsqueeze(1) * inv.unsqueeze(0);
  // The anchor's rope(x, cos, sin) = cat(x1 cos - x2 sin, x2 cos + x1 sin) is apply_rotary_emb's
  // x * cat(cos, cos) + rotate_half(x) * cat(sin, sin), rotate_half(x) = cat(-x2, x1).
  graft::Tensor cos = graft::cat({ang.cos(), ang.cos()}, -1), sin = graft::cat({ang.sin(), ang.sin()}, -1);
  graft::Tensor x = graft::randn({B, T, D});  // auto x = torch::randn({B, T, D});
  auto step = [&] {
    opt.zero_grad();
    graft::Tensor loss;
    {
      graft::AutocastGuard mixed(autocast.value_or(graft::kBFloat16), autocast.has_value());
      graft::Tensor h = F::rms_norm(x, g1, 1e-6);  // rmsnorm(x, g1): x * rsqrt(x.pow(2).mean(-1, true) + 1e-6) * g1
      graft::Tensor q = F::apply_rotary_emb(h.matmul(wq).view({B, T, H, HD}).transpose(1, 2), cos, sin);   // rope(...wq...)
      graft::Tensor k = F::apply_rotary_emb(h.matmul(wk).view({B, T, KV, HD}).transpose(1, 2), cos, sin);  // rope(...wk...)
      graft::Tensor v = h.matmul(wv).view({B, T, KV, HD}).transpose(1, 2);                                // h.matmul(wv)...
      // k, v = repeat_interleave(H / KV, 1); softmax(q k^T / sqrt(HD) + causal -inf mask) @ v:
      graft::Tensor a = F::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, std::nullopt,
                                                        /*enable_gqa=*/true);
      graft::Tensor o = a.transpose(1, 2).reshape({B, T, D}).matmul(wo);  // att.matmul(v).transpose(1, 2)...matmul(wo)
      graft::Tensor r = x + o;                                            // auto r = x + o;
      graft::Tensor h2 = F::rms_norm(r, g2, 1e-6);                        // rmsnorm(r, g2)
      graft::Tensor out = r + (F::silu(h2.matmul(w1)) * h2.matmul(w3)).matmul(w2);  // r + (silu(h2 w1) * h2 w3) w2
      loss = out.pow(2).mean();  // out.pow(2).mean()
    }
    loss.backward();
    opt.step();
  };
  const std::string name = !autocast ? "gqa_block" : *autocast == graft::kBFloat16 ? "gqa_block_bf16" : "gqa_block_f16";
  time_training_steps(name, step, steps);
}

// W6 (lstm -> lstm_seq): nn::LSTM(64, 256, 2 layers, batch_first) with a Linear(256, 64) head on a fixed
// x = randn(32, 64, 64), mse_loss against a fixed randn target, Adam lr 1e-3 over both modules' parameters,
// zero initial states; 3 warm-up steps, then `steps` timed steps of zero_grad, forward, backward, step.
void lstm_seq(int steps) {
  graft::manual_seed(0);  // torch::manual_seed(0);
  graft::nn::LSTM rnn({.input_size = 64, .hidden_size = 256, .num_layers = 2, .batch_first = true});
  graft::nn::Linear head(256, 64);
  graft::Tensor x = graft::randn({32, 64, 64}), target = graft::randn({32, 64, 64});
  std::vector<graft::Tensor> params = rnn.parameters();
  for (const graft::Tensor& p : head.parameters()) params.push_back(p);
  graft::optim::Adam opt(params, graft::optim::AdamOptions(1e-3));
  auto step = [&] {
    opt.zero_grad();
    graft::Tensor loss = F::mse_loss(head(rnn(x)), target);  // mse_loss(head(get<0>(rnn->forward(x))), target)
    loss.backward();
    opt.step();
  };
  time_training_steps("lstm_seq", step, steps);
}

// W5 (cnn -> cnn_fmnist): Conv2d(1, 32, 3, padding 1) ReLU MaxPool2d(2) Conv2d(32, 64, 3, padding 1) ReLU
// MaxPool2d(2) Flatten Linear(3136, 128) ReLU Linear(128, 10), PyTorch's default init, trained as mlp_fmnist
// (Adam 1e-3, batch 128, last partial batch dropped, randperm outside the clock); test accuracy untimed, under
// no-grad, in chunks of 1000.
void cnn_fmnist(const std::string& root, int epochs) {
  graft::manual_seed(0);  // torch::manual_seed(0);
  graft::data::FashionMNIST train(root, /*train=*/true), test(root, /*train=*/false);
  const graft::Tensor xtr = train.inputs().view({-1, 1, 28, 28}), &ytr = train.targets();  // .view({-1, 1, 28, 28})
  const graft::Tensor xte = test.inputs().view({-1, 1, 28, 28}), &yte = test.targets();
  namespace nn = graft::nn;
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 32, graft::IntList{3}, 1, 1), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(graft::IntList{2}),
      std::make_shared<nn::Conv2d>(32, 64, graft::IntList{3}, 1, 1), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(graft::IntList{2}), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(3136, 128), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10)});
  graft::optim::Adam opt(net->parameters(), graft::optim::AdamOptions(1e-3));
  const int64_t B = 128, N = xtr.size(0);
  double total = 0, total_cpu = 0, last_loss = 0;
  graft::reset_peak_memory_stats();
  for (int e = 0; e < epochs; ++e) {
    graft::Tensor perm = graft::randperm(N);
    auto t0 = Clock::now();
    const double cpu0 = process_cpu_seconds();
    for (int64_t i = 0; i + B <= N; i += B) {
      graft::Tensor idx = perm.slice(0, i, i + B);
      graft::Tensor x = graft::index_select(xtr, 0, idx), y = graft::index_select(ytr, 0, idx);
      opt.zero_grad();
      graft::Tensor loss = F::cross_entropy((*net)(x), y);
      loss.backward();
      opt.step();
      last_loss = loss.item<double>();
    }
    total += seconds_between(t0, Clock::now());
    total_cpu += process_cpu_seconds() - cpu0;
  }
  graft::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t i = 0; i < xte.size(0); i += 1000) {
    graft::Tensor predicted = graft::argmax((*net)(xte.slice(0, i, i + 1000)), 1);
    correct += graft::eq(predicted, yte.slice(0, i, i + 1000)).sum().item<int64_t>();
  }
  emit("cnn_fmnist", "train_s_per_epoch", total / epochs);
  emit("cnn_fmnist", "test_accuracy", static_cast<double>(correct) / static_cast<double>(xte.size(0)));
  emit("cnn_fmnist", "final_train_loss", last_loss);
  emit("cnn_fmnist", "train_cpu_s_per_epoch", total_cpu / epochs);
  emit("cnn_fmnist", "peak_memory_mb", graft::max_memory_allocated() / 1e6);
}

// W7 (decode -> lm_decode): greedy decoding, batch 1, no grad, through a 4-layer GQA decoder (V = D = 256, 8 query
// heads over 2 key/value heads, head_dim 32, SwiGLU 768, RMSNorm eps 1e-6, RoPE base 10000, untied head, weights
// randn * 0.02 in the anchor's order, applied as x.matmul(W)). A prefill of the 16 prompt ids 0..15, then
// `steps` steps of one token each against the KV cache; one untimed warm-up generation, then one timed. graft
// keeps each layer's keys and values in nn::KVCache (appending in place) where the anchor concatenates, and
// runs the attention as one GQA scaled_dot_product_attention where the anchor repeats K and V per head.
void lm_decode(int steps) {
  graft::NoGradGuard no_grad;  // torch::NoGradGuard ng;
  graft::manual_seed(0);       // torch::manual_seed(0);
  const int64_t V = 256, D = 256, L = 4, H = 8, KV = 2, HD = D / H, FF = 768, P = 16, T = P + steps;
  auto w = [](graft::IntList s) { return graft::randn(s) * 0.02; };
  struct Layer {
    graft::Tensor wq, wk, wv, wo, w1, w3, w2, g1, g2;
    graft::nn::KVCache cache;
  };
  graft::Tensor emb = w({V, D});
  std::vector<Layer> layers(L);
  for (Layer& l : layers) {
    l.wq = w({D, D}), l.wk = w({D, KV * HD}), l.wv = w({D, KV * HD}), l.wo = w({D, D});
    l.w1 = w({D, FF}), l.w3 = w({D, FF}), l.w2 = w({FF, D}), l.g1 = graft::ones({D}), l.g2 = graft::ones({D});
  }
  graft::Tensor lm = w({D, V}), gf = graft::ones({D});
  // The anchor's float32 angles p * 10000^(-2i/32); its rope is apply_rotary_emb with cos and sin repeated.
  graft::Tensor inv = graft::pow(10000.0, graft::arange(0, HD / 2, 1, graft::kFloat32) * (-2.0 / HD));
  graft::Tensor ang = graft::arange(T, graft::kFloat32).unsqueeze(1) * inv.unsqueeze(0);
  graft::Tensor cos = graft::cat({ang.cos(), ang.cos()}, -1), sin = graft::cat({ang.sin(), ang.sin()}, -1);
  auto forward = [&](const graft::Tensor& ids, int64_t p0) {  // ids [n] at positions p0.., returns the next id
    const int64_t n = ids.size(0);
    graft::Tensor c = cos.slice(0, p0, p0 + n), s = sin.slice(0, p0, p0 + n);
    graft::Tensor h = graft::index_select(emb, 0, ids).unsqueeze(0);
    for (Layer& l : layers) {
      graft::Tensor a = F::rms_norm(h, l.g1, 1e-6);
      graft::Tensor q = F::apply_rotary_emb(a.matmul(l.wq).view({1, n, H, HD}).transpose(1, 2), c, s);
      graft::Tensor k = F::apply_rotary_emb(a.matmul(l.wk).view({1, n, KV, HD}).transpose(1, 2), c, s);
      graft::Tensor v = a.matmul(l.wv).view({1, n, KV, HD}).transpose(1, 2);
      auto [keys, values] = l.cache.update(k, v);
      // softmax(q K^T / sqrt(32) [+ causal mask in the prefill]) V over every cached position:
      graft::Tensor att = F::scaled_dot_product_attention(q, keys, values, {.is_causal = n > 1, .enable_gqa = true});
      h = h + att.transpose(1, 2).reshape({1, n, D}).matmul(l.wo);
      graft::Tensor b = F::rms_norm(h, l.g2, 1e-6);
      h = h + (F::silu(b.matmul(l.w1)) * b.matmul(l.w3)).matmul(l.w2);
    }
    return graft::argmax(F::rms_norm(h, gf, 1e-6).matmul(lm).select(1, n - 1), -1).item<int64_t>();
  };
  double prefill = 0, generation = 0;
  int64_t sum = 0;
  for (int run = 0; run < 2; ++run) {  // run 0 warms up
    for (Layer& l : layers) l.cache.clear();
    if (run == 1) graft::reset_peak_memory_stats();
    auto t0 = Clock::now();
    int64_t id = forward(graft::arange(P, graft::kInt64), 0);
    auto t1 = Clock::now();
    sum = id;
    for (int64_t i = 0; i < steps; ++i) {
      id = forward(graft::full({1}, id, graft::kInt64), P + i);
      sum += id;
    }
    prefill = seconds_between(t0, t1), generation = seconds_between(t1, Clock::now());
  }
  emit("lm_decode", "ms_per_token", generation / steps * 1e3);
  emit("lm_decode", "prefill_ms", prefill * 1e3);
  emit("lm_decode", "tokens_sum", static_cast<double>(sum));
  emit("lm_decode", "peak_memory_mb", graft::max_memory_allocated() / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"graft benchmarks: JSON lines {\"workload\", \"metric\", \"value\"}"};
  std::string what = "all";
  const char* env_threads = std::getenv("BENCH_THREADS");
  int threads = env_threads ? std::atoi(env_threads) : 2;
  app.add_option("workload", what, "which workloads to run")->check(CLI::IsMember({"tiny", "gemm", "gemm-half", "block", "block-half", "mlp", "mlp64", "cnn", "lstm", "decode", "gemm-vs-sgemm", "all"}));
  int tiny_reps = 200, gemm_reps = 20, block_steps = 10;
  std::string data_root = graft::data::FashionMNIST::kDefaultRoot;
  app.add_option("--tiny-reps", tiny_reps, "tiny_ops runs after warm-up (the anchor's 200; raise it for profiling)")
      ->check(CLI::PositiveNumber);
  app.add_option("--gemm-reps", gemm_reps, "matmul_1024 products after warm-up (the anchor's 20)")->check(CLI::PositiveNumber);
  app.add_option("--block-steps", block_steps, "gqa_block timed steps after 3 warm-up steps (the anchor's 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--data", data_root, "Fashion-MNIST directory (the anchor's argv[2])");
  app.add_option("--threads", threads, "OpenMP threads (default: $BENCH_THREADS, else 2)")->check(CLI::PositiveNumber);
  std::string profile_path;
  app.add_option("--profile", profile_path,
                 "run the workloads under graft::profiler (its overhead is part of the figures) and write a Chrome "
                 "trace to this file; the table goes to stderr");
  CLI11_PARSE(app, argc, argv);
  std::optional<graft::profiler::profile> prof;
  if (!profile_path.empty()) prof.emplace();

  graft::set_num_threads(threads);
  emit("config", "threads", graft::get_num_threads());
  emit("config", "adaptive_threads", graft::adaptive_threads() ? 1 : 0);
  if (what == "all" || what == "gemm") matmul_1024(gemm_reps);
  if (what == "all" || what == "gemm-half") {
    matmul_1024(gemm_reps, graft::kBFloat16);
    matmul_1024(gemm_reps, graft::kFloat16);
  }
  if (what == "all" || what == "tiny") tiny_ops(tiny_reps);
  if (what == "all" || what == "block") gqa_block(block_steps);
  if (what == "all" || what == "block-half") {
    gqa_block(block_steps, graft::kBFloat16);
    gqa_block(block_steps, graft::kFloat16);
  }
  if (what == "all" || what == "mlp") {
    const char* epochs = std::getenv("MLP_EPOCHS");
    mlp_fmnist(data_root, epochs ? std::atoi(epochs) : 2);
  }
  if (what == "all" || what == "mlp64") {
    const char* epochs = std::getenv("MLP64_EPOCHS");
    mlp_fmnist(data_root, epochs ? std::atoi(epochs) : 1, /*f64=*/true);
  }
  if (what == "all" || what == "cnn") {
    const char* epochs = std::getenv("CNN_EPOCHS");
    cnn_fmnist(data_root, epochs ? std::atoi(epochs) : 1);
  }
  if (what == "all" || what == "lstm") lstm_seq(10);
  if (what == "all" || what == "decode") lm_decode(128);
  if (what == "all" || what == "gemm-vs-sgemm") matmul_vs_sgemm(gemm_reps, 10);
  if (prof) {
    prof->stop();
    prof->export_chrome_trace(profile_path);
    std::fprintf(stderr, "%s", prof->table("cpu_time_total", 25).c_str());
  }
  return 0;
}
