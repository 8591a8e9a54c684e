// A character-level decoder-only language model (nn::TransformerLM: grouped-query attention with RoPE,
// RMSNorm, SwiGLU feed-forward, pre-norm blocks) trained on a text every Debian machine has, the GNU GPL v3
// (/usr/share/common-licenses/GPL-3, from base-files), then asked to continue a prompt four ways through
// nn::generate, all decoding with the KV cache: greedy, top-k sampling, top-p (nucleus) sampling and beam
// search.
//
// The text's first 90% trains, its last 10% validates (text the model never sees). Each step draws
// --batch-size windows of --context + 1 characters at random offsets of the training text (a generator
// seeded by --seed) and predicts every next character. AdamW (weight decay on the matrices only, as
// nanoGPT), a linear warm-up followed by a cosine decay of the learning rate (LinearWarmupCosineLR, one
// scheduler step per training step), gradient clipping to norm --clip. Every --eval-every steps it prints
// the mean loss of a fixed sample of training windows and of the whole validation text, next to the
// unigram entropy of the training text (the loss of the best model that ignores context).
//
// The defaults (d_model 64, 4 blocks of 4 query and 2 key/value heads, windows of 128, batch 16, 500 steps)
// train in 45 s on one idle core (3 minutes when the machine is busy) and end at train 0.90 and validation
// 2.07 nats/char, against a unigram entropy of 3.14. The text is small (32k training
// characters): longer training or a bigger model memorises it (train loss below 0.6) while the validation
// loss climbs back, so the defaults stop near the validation minimum; --weight-decay 0.5 helps a little.
//
// A "character" is a byte: the vocabulary is the distinct bytes of the text (76 for GPL-3), so UTF-8 text
// trains too, one byte per token.
//
// Output in --out-dir: curves.svg (loss per step, learning rate), graph.dot / graph.svg (the autograd graph
// of a small batch's loss), model.safetensors (the weights, with the configuration and the vocabulary in
// its metadata) and checkpoint.safetensors (weights, AdamW's and the scheduler's state, the run's history).
//
//   build/examples/tiny_gpt [--steps 500] [--d-model 64] [--layers 4] [--heads 4] [--kv-heads 2] [--context 128]
//                           [--text FILE] [--prompt TEXT] [--out-dir DIR]
//   build/examples/tiny_gpt --quick    # a tiny model for a few steps (what the tests run)
#include <graft/graft.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/char_text.h"
#include "common/cli.h"
#include "graft/utils/graph_picture.h"
#include "common/metrics.h"
#include "common/mixed_precision.h"
#include "common/profiling.h"
#include "graft/utils/plot.h"
#include "graft/utils/progress.h"

using namespace graft;
using namespace graft::examples;
using namespace graft::utils;
namespace F = graft::nn::functional;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;


// The model's mean loss and next-character accuracy over the windows at `starts` (in eval mode).
CharEvaluation evaluate(nn::TransformerLM& model, const std::vector<int64_t>& ids, const std::vector<int64_t>& starts,
                        int64_t context, int64_t batch, const MixedPrecision& amp) {
  model.eval();
  const CharEvaluation result = evaluate_windows(
      [&](const Tensor& x) {
        auto autocast = amp.autocast();
        return model(x).to(kFloat32);  // the loss in float32, as under autocast in training
      },
      ids, starts, context, batch);
  model.train();
  return result;
}

struct ModelFlags {
  int64_t d_model = 64, layers = 4, heads = 4, kv_heads = 2, ffn_hidden = 0, context = 128;
};

struct SamplingFlags {
  std::string prompt = "This License";
  int64_t max_new_tokens = 150, top_k = 10, beams = 4;
  double temperature = 0.8, top_p = 0.9;
};

struct History {
  std::vector<double> step_loss, lr;                          // every step
  std::vector<double> eval_step, train_loss, val_loss, val_acc;  // every evaluation
  json to_json() const {
    return {{"step_loss", step_loss}, {"lr", lr},           {"eval_step", eval_step},
            {"train_loss", train_loss}, {"val_loss", val_loss}, {"val_acc", val_acc}};
  }
};

// Greedy decoding with the KV cache must pick, at every generated position, a token the full (uncached)
// forward pass of the whole sequence also ranks first (within float rounding). Returns the positions checked.
int64_t check_greedy_against_full_pass(nn::TransformerLM& model, const Tensor& sequence, int64_t prompt_length) {
  NoGradGuard no_grad;
  const Tensor logits = model(sequence).select(0, 0);  // (L, V)
  const std::vector<int64_t> ids = sequence.select(0, 0).to_vector<int64_t>();
  const int64_t vocab = logits.size(1);
  const std::vector<float> values = logits.contiguous().to_vector<float>();
  int64_t checked = 0;
  for (size_t pos = static_cast<size_t>(prompt_length); pos < ids.size(); ++pos) {
    const float* row = values.data() + (pos - 1) * static_cast<size_t>(vocab);
    const float best = *std::max_element(row, row + vocab);
    const float chosen = row[ids[pos]];
    GRAFT_CHECK(chosen >= best - 1e-4f * (1.0f + std::abs(best)),
                "greedy decoding with the KV cache chose token {} (logit {}) at position {}, but the full forward "
                "pass ranks another token first (logit {})",
                ids[pos], chosen, pos, best);
    ++checked;
  }
  return checked;
}

}  // namespace

int main(int argc, char** argv) {
  TrainingFlags flags;
  flags.batch_size = 16;
  flags.lr = 3e-3;
  flags.seed = 1337;
  // One thread unless asked: this model's matrices are small enough that a second thread gains little, and on a
  // shared machine two-thread OpenMP regions that wait on each other made a step ten times slower.
  flags.threads = 1;
  int64_t steps = 500, warmup = 50, eval_every = 50, train_eval_windows = 64;
  double weight_decay = 0.5, clip = 1.0, min_lr_ratio = 0.1;
  ModelFlags m;
  SamplingFlags s;
  std::string text_path = "/usr/share/common-licenses/GPL-3", amp_mode = "off";

  CLI::App app{"A character-level GPT (grouped-query attention, RoPE, RMSNorm, SwiGLU) trained on a text, then "
               "sampled greedily, with top-k, with top-p and with beam search through the KV cache."};
  app.add_option("--steps", steps, "training steps")->check(examples::Positive)->capture_default_str();
  app.add_option("--batch-size", flags.batch_size, "windows per step")->check(examples::Positive)->capture_default_str();
  app.add_option("--lr", flags.lr, "peak learning rate (AdamW)")->check(examples::Positive)->capture_default_str();
  app.add_option("--warmup", warmup, "steps of linear warm-up before the cosine decay")->check(examples::NonNegative)->capture_default_str();
  app.add_option("--min-lr-ratio", min_lr_ratio, "the learning rate the cosine ends at, as a fraction of --lr")
      ->check(examples::Probability)->capture_default_str();
  app.add_option("--weight-decay", weight_decay, "AdamW's decoupled weight decay (matrices only)")->check(examples::NonNegative)->capture_default_str();
  app.add_option("--clip", clip, "gradient-norm clipping threshold")->check(examples::Positive)->capture_default_str();
  app.add_option("--eval-every", eval_every, "steps between evaluations")->check(examples::Positive)->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the initial weights, the training windows and the sampling")->capture_default_str();
  app.add_option("--out-dir,--out", flags.out_dir, "where pictures and checkpoints go; created if missing")->capture_default_str();
  app.add_flag("--quick", flags.quick, "a tiny model for a few steps (what the tests run)");
  app.add_option("--threads", flags.threads, "OpenMP threads (0: OpenMP's default)")->check(examples::NonNegative)->capture_default_str();
  examples::add_profile_flag(app, flags.profile);
  add_amp_flag(app, amp_mode);
  app.add_option("--text", text_path, "the training text")->capture_default_str();
  app.add_option("--d-model", m.d_model, "model width")->check(examples::Positive)->capture_default_str();
  app.add_option("--layers", m.layers, "transformer blocks")->check(examples::Positive)->capture_default_str();
  app.add_option("--heads", m.heads, "query heads")->check(examples::Positive)->capture_default_str();
  app.add_option("--kv-heads", m.kv_heads, "key/value heads (grouped-query attention; divides --heads)")->check(examples::Positive)->capture_default_str();
  app.add_option("--ffn-hidden", m.ffn_hidden, "SwiGLU hidden size (0: 8/3 d_model rounded up to a multiple of 8)")->check(examples::NonNegative)->capture_default_str();
  app.add_option("--context", m.context, "characters per training window")->check(examples::Positive)->capture_default_str();
  app.add_option("--prompt", s.prompt, "the text the samples continue")->capture_default_str();
  app.add_option("--max-new-tokens", s.max_new_tokens, "characters generated per sample (past --context, the model meets distances it never trained on)")->check(examples::Positive)->capture_default_str();
  app.add_option("--temperature", s.temperature, "sampling temperature (top-k and top-p)")->check(examples::Positive)->capture_default_str();
  app.add_option("--top-k", s.top_k, "top-k sampling keeps this many tokens")->check(examples::Positive)->capture_default_str();
  app.add_option("--top-p", s.top_p, "top-p sampling keeps the smallest set of tokens with this much probability")
      ->check(examples::Probability)->capture_default_str();
  app.add_option("--beams", s.beams, "beam search width")->check(CLI::Range(int64_t{2}, int64_t{64}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // --quick: a tiny model for a few steps, unless the flags say otherwise.
  if (flags.quick) {
    auto quick = [&app](const char* flag, auto& value, auto quick_value) { quick_default(app, flag, value, quick_value); };
    quick("--steps", steps, 40);
    quick("--warmup", warmup, 5);
    quick("--eval-every", eval_every, 20);
    quick("--batch-size", flags.batch_size, 16);
    quick("--lr", flags.lr, 1e-2);
    quick("--d-model", m.d_model, 32);
    quick("--layers", m.layers, 2);
    quick("--heads", m.heads, 4);
    quick("--kv-heads", m.kv_heads, 2);
    quick("--context", m.context, 32);
    quick("--max-new-tokens", s.max_new_tokens, 40);
    train_eval_windows = 16;
  }

  return run_guarded([&] {
    prepare(flags);
    MixedPrecision amp(amp_mode);
    GRAFT_CHECK(warmup < steps, "--warmup ({}) must be smaller than --steps ({})", warmup, steps);

    // The text, its vocabulary, and the split: the first 90% trains, the last 10% validates.
    const CharCorpus corpus = CharCorpus::load(text_path, m.context);
    const CharVocab& vocab = corpus.vocab;
    const std::vector<int64_t>&train = corpus.train, &val = corpus.val;
    const double entropy = corpus.unigram_entropy();
    fmt::print("{}: {} characters, {} distinct; {} train, {} validation\n", text_path, train.size() + val.size(),
               vocab.size(), train.size(), val.size());
    fmt::print("unigram entropy of the training text: {:.3f} nats/char (uniform: {:.3f})\n", entropy,
               std::log(static_cast<double>(vocab.size())));

    // The model. Its RoPE tables cover the training windows and the longest sample.
    const std::vector<int64_t> prompt_ids = vocab.encode(s.prompt, "--prompt");
    GRAFT_CHECK(!prompt_ids.empty(), "--prompt: the prompt is empty");
    const auto prompt_length = static_cast<int64_t>(prompt_ids.size());
    nn::TransformerLMConfig config;
    config.vocab_size = vocab.size();
    config.num_layers = m.layers;
    config.ffn_hidden = m.ffn_hidden;
    config.attention.kind = nn::AttentionKind::GQA;
    config.attention.d_model = m.d_model;
    config.attention.num_heads = m.heads;
    config.attention.num_kv_heads = m.kv_heads;
    config.attention.rope = true;
    config.attention.max_positions = std::max(m.context, prompt_length + s.max_new_tokens);
    manual_seed(flags.seed);
    auto model = std::make_shared<nn::TransformerLM>(config);
    const json config_json = {{"vocab_size", config.vocab_size}, {"num_layers", m.layers},  {"d_model", m.d_model},
                              {"num_heads", m.heads},            {"num_kv_heads", m.kv_heads}, {"ffn_hidden", m.ffn_hidden},
                              {"context", m.context},            {"max_positions", config.attention.max_positions}};

    // AdamW with weight decay on the matrices (projections, embedding, output layer), not on the norms' gains.
    std::vector<Tensor> decayed, not_decayed;
    int64_t parameters = 0;
    for (const auto& [name, p] : model->named_parameters()) {
      (p.dim() >= 2 ? decayed : not_decayed).push_back(p);
      parameters += p.numel();
    }
    const auto options = optim::AdamWOptions(flags.lr).betas({0.9, 0.95}).weight_decay(weight_decay);
    optim::AdamW adamw({optim::OptimizerParamGroup(decayed, options),
                        optim::OptimizerParamGroup(not_decayed, optim::AdamWOptions(options).weight_decay(0.0))},
                       options);
    // The warm-up climbs from lr / warmup (LinearLR needs a positive start); without warm-up, cosine only.
    std::unique_ptr<optim::LRScheduler> scheduler;
    if (warmup > 0)
      scheduler = std::make_unique<optim::LinearWarmupCosineLR>(adamw, warmup, steps, 1.0 / static_cast<double>(warmup),
                                                                 min_lr_ratio * flags.lr);
    else
      scheduler = std::make_unique<optim::CosineAnnealingLR>(adamw, steps, min_lr_ratio * flags.lr);
    fmt::print("{}\n{} parameters; AdamW(lr={:g}, betas=(0.9, 0.95), weight_decay={:g}), warm-up {} + cosine to {:g}, "
               "clip {:g}, batch {} x {} characters, {} steps, {} threads{}\n\n",
               model->repr(), parameters, flags.lr, weight_decay, warmup, min_lr_ratio * flags.lr, clip,
               flags.batch_size, m.context, steps, omp_get_max_threads(),
               amp.enabled() ? fmt::format(", mixed precision ({} products, float32 master weights)", amp_mode) : "");

    // Fixed evaluation windows: all of the validation text, and a random sample of the training text.
    Generator windows_generator(flags.seed);
    const std::vector<int64_t> val_starts = covering_starts(val, m.context);
    const std::vector<int64_t> train_eval_starts = random_starts(train, train_eval_windows, m.context, windows_generator);
    History history;
    auto record_evaluation = [&](int64_t step) {
      const CharEvaluation t = evaluate(*model, train, train_eval_starts, m.context, flags.batch_size, amp);
      const CharEvaluation v = evaluate(*model, val, val_starts, m.context, flags.batch_size, amp);
      history.eval_step.push_back(static_cast<double>(step));
      history.train_loss.push_back(t.loss);
      history.val_loss.push_back(v.loss);
      history.val_acc.push_back(100 * v.accuracy);
    };
    record_evaluation(0);
    fmt::print("step 0: train loss {:.4f}, val loss {:.4f}\n", history.train_loss.back(), history.val_loss.back());

    const auto training_start = Clock::now();
    double grad_norm = 0;
    RunProfile run_profile(flags.profile);
    for (int64_t done = 0; done < steps;) {
      const int64_t n = std::min(eval_every, steps - done);
      ProgressBar bar(fmt::format("steps {}-{}/{}", done + 1, done + n, steps), n, std::cout, {}, "chars");
      for (int64_t i = 0; i < n; ++i, ++done) {
        const CharBatch b = windows(train, random_starts(train, flags.batch_size, m.context, windows_generator), m.context);
        adamw.zero_grad();
        Tensor logits, loss;
        {
          auto autocast = amp.autocast();
          logits = (*model)(b.x);
          loss = next_char_loss(logits, b.y);
        }
        history.lr.push_back(scheduler->get_last_lr().front());
        grad_norm = amp.backward_and_step(loss, adamw, clip).grad_norm;
        scheduler->step();
        const double value = loss.item<double>();
        GRAFT_CHECK(std::isfinite(value), "training diverged at step {} (loss {}); try a smaller --lr", done + 1, value);
        history.step_loss.push_back(value);
        const int64_t count = b.y.numel();
        bar.update(count, value, count_correct(logits.detach().reshape({count, vocab.size()}), b.y.reshape({count})));
      }
      record_evaluation(done);
      bar.finish(fmt::format("| step {}: train loss {:.4f}, val loss {:.4f} (acc {:.1f}%) | lr {:.2e}, grad norm {:.2f}",
                             done, history.train_loss.back(), history.val_loss.back(), history.val_acc.back(),
                             history.lr.back(), grad_norm));
    }
    const double training_seconds = seconds_since(training_start);
    fmt::print("\ntrained {} steps in {:.1f} s ({:.0f} ms/step); final train loss {:.4f}, val loss {:.4f} "
               "(unigram entropy {:.4f})\n\n",
               steps, training_seconds, 1000 * training_seconds / static_cast<double>(steps), history.train_loss.back(),
               history.val_loss.back(), entropy);
    run_profile.finish();

    // Continuations of the prompt, each decoded with the KV cache (nn::generate feeds the prompt once, then
    // one token per step).
    model->eval();
    const Tensor prompt = tensor(prompt_ids, {1, prompt_length}, dtype(kInt64));
    auto continuation = [&](const Tensor& sequences) {
      const std::vector<int64_t> out = sequences.select(0, 0).to_vector<int64_t>();
      return vocab.decode(std::vector<int64_t>(out.begin() + prompt_length, out.end()));
    };
    auto show = [&](const std::string& title, const Tensor& sequences, double seconds) {
      const int64_t generated = sequences.size(1) - prompt_length;
      fmt::print("--- {} ({} characters, {:.1f} ms/char) ---\n{}{}\n\n", title, generated,
                 1000 * seconds / static_cast<double>(generated), s.prompt, continuation(sequences));
    };
    nn::GenerationConfig base;
    base.max_new_tokens = s.max_new_tokens;

    auto start = Clock::now();
    const Tensor greedy = nn::generate(*model, prompt, base);
    show("greedy", greedy, seconds_since(start));
    const int64_t checked = check_greedy_against_full_pass(*model, greedy, prompt_length);
    fmt::print("(greedy decoding with the KV cache agrees with a full forward pass at all {} positions)\n\n", checked);

    auto sampling = [&] {
      nn::GenerationConfig config = base;
      config.do_sample = true;
      config.temperature = s.temperature;
      config.seed = flags.seed;
      return config;
    };
    nn::GenerationConfig top_k = sampling();
    top_k.top_k = s.top_k;
    start = Clock::now();
    const Tensor top_k_sample = nn::generate(*model, prompt, top_k);
    show(fmt::format("top-k sampling, k = {}, temperature {}", s.top_k, s.temperature), top_k_sample, seconds_since(start));

    nn::GenerationConfig top_p = sampling();
    top_p.top_p = s.top_p;
    start = Clock::now();
    const Tensor top_p_sample = nn::generate(*model, prompt, top_p);
    show(fmt::format("top-p sampling, p = {}, temperature {}", s.top_p, s.temperature), top_p_sample, seconds_since(start));

    nn::GenerationConfig beam = base;
    beam.num_beams = s.beams;
    start = Clock::now();
    const nn::BeamSearchOutput beams = nn::beam_search(*model, prompt, beam);
    const double beam_seconds = seconds_since(start);
    show(fmt::format("beam search, {} beams, score {:.4f}", s.beams, beams.sequences_scores.item<double>()),
         beams.sequences, beam_seconds);

    // Weights (with what it takes to use them), the full training state, and the pictures.
    const std::string model_path = output_path(flags, "model.safetensors");
    nn::save_safetensors(model->state_dict(), model_path,
                         {{"config", config_json.dump()}, {"vocab", vocab.to_json().dump()}});
    const std::string checkpoint_path = output_path(flags, "checkpoint.safetensors");
    optim::Checkpoint checkpoint;
    checkpoint.insert("model", model->state_dict());
    checkpoint.insert("optimizer", adamw.state_dict());
    checkpoint.insert("scheduler", scheduler->state_dict());
    if (amp.scaler().is_enabled()) checkpoint.insert("scaler", amp.scaler().state_dict());
    optim::Checkpoint run;
    run.metadata = json{{"step", steps},
                        {"amp", amp_mode},
                        {"config", config_json},
                        {"vocab", vocab.to_json()},
                        {"history", history.to_json()},
                        {"windows_generator", windows_generator.get_state()}}
                       .dump();
    checkpoint.insert("run", run);
    optim::save_checkpoint(checkpoint, checkpoint_path);

    std::vector<double> step_axis;
    for (int64_t i = 1; i <= steps; ++i) step_axis.push_back(static_cast<double>(i));
    const std::string curves = output_path(flags, "curves.svg"), graph = output_path(flags, "graph");
    write_text_file(curves_svg({{"loss (nats/char)", "step", "cross-entropy",
                                 {{"train batch", step_axis, history.step_loss},
                                  {"train", history.eval_step, history.train_loss},
                                  {"validation", history.eval_step, history.val_loss},
                                  {"unigram entropy", {0.0, static_cast<double>(steps)}, {entropy, entropy}}}},
                                {"learning rate", "step", "lr", {{"AdamW lr", step_axis, history.lr}}}}),
                    curves);
    {
      // The graph of the loss of one short window.
      const int64_t length = std::min<int64_t>(m.context, 8);
      const CharBatch b = windows(train, {0}, length);
      write_graph({next_char_loss((*model)(b.x), b.y)}, *model, graph, {.max_depth = 2});
    }
    fmt::print("weights: {}\ncheckpoint: {}\npictures: {}, {}.{{dot,svg}}\n", model_path, checkpoint_path, curves, graph);
    return 0;
  });
}
