// A character-level LSTM language model trained on the same text, split and windows as tiny_gpt (the GNU
// GPL v3 every Debian machine has, /usr/share/common-licenses/GPL-3), so the two losses compare: an
// embedding, a stacked nn::LSTM (batch_first, dropout between layers) and a linear head over the characters.
// Then it writes a continuation of a prompt by carrying the LSTM's state (h, c) from character to character,
// greedily and by sampling, and checks the step-by-step logits against one forward pass over the whole
// sequence.
//
// Training: each step draws --batch-size windows of --context + 1 characters at random offsets of the first
// 90% of the text, starts every window from a zero state and predicts each next character; Adam, gradient
// clipping to norm --clip. Every --eval-every steps it prints the mean loss on a fixed sample of training
// windows and on the whole last 10% (the validation text), in nats per character, beside the unigram entropy.
//
// The defaults (embedding 64, 2 layers of 256, windows of 64, batch 32: the LibTorch anchor's LSTM
// workload; 400 steps) train in about 65 s on 2 idle cores (160 ms/step) and end at train 1.05 and
// validation 1.93 nats/char, below tiny_gpt's 2.07, against a unigram entropy of 3.14. Past 400 steps the
// model memorises the small text: at 600 steps train 0.81, validation 1.99.
//
// Output in --out-dir: curves.svg (loss per step and per evaluation), model.safetensors (the weights, with
// the configuration and the vocabulary in its metadata).
//
//   build/examples/char_lstm [--steps 400] [--embedding 64] [--hidden 256] [--layers 2] [--context 64]
//                            [--text FILE] [--prompt TEXT] [--out-dir DIR]
//   build/examples/char_lstm --quick    # a tiny model for a few steps (what the tests run)
#include <graft/graft.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/char_text.h"
#include "common/cli.h"
#include "common/metrics.h"
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

// Logits for every position and the LSTM's state after the last one.
struct LanguageModelStep {
  Tensor logits;  // (B, T, V)
  Tensor h, c;    // (num_layers, B, hidden)
};

// Embedding -> LSTM -> Linear. forward() starts from a zero state (training and evaluation); step() carries
// a state in and out (generation).
class CharLSTM : public nn::Module {
 public:
  CharLSTM(int64_t vocab, int64_t embedding_dim, int64_t hidden, int64_t layers, double dropout)
      : nn::Module("CharLSTM"),
        embedding(register_module("embedding", nn::Embedding(vocab, embedding_dim))),
        lstm(register_module("lstm", nn::LSTM({.input_size = embedding_dim,
                                               .hidden_size = hidden,
                                               .num_layers = layers,
                                               .batch_first = true,
                                               .dropout = dropout}))),
        head(register_module("head", nn::Linear(hidden, vocab))) {}

  Tensor forward(const Tensor& ids) override { return step(ids, {}, {}).logits; }

  // ids (B, T) from the state (h, c) (both undefined: zeros).
  LanguageModelStep step(const Tensor& ids, const Tensor& h, const Tensor& c) {
    const nn::RecurrentOutput out = lstm(embedding(ids), h, c);
    return {head(out.output), out.h_n, out.c_n};
  }

  nn::Child<nn::Embedding> embedding;
  nn::Child<nn::LSTM> lstm;
  nn::Child<nn::Linear> head;
};

CharEvaluation evaluate(CharLSTM& model, const std::vector<int64_t>& ids, const std::vector<int64_t>& starts,
                        int64_t context, int64_t batch) {
  model.eval();
  const CharEvaluation result = evaluate_windows([&](const Tensor& x) { return model(x); }, ids, starts, context, batch);
  model.train();
  return result;
}

struct Continuation {
  std::vector<int64_t> ids;   // the prompt followed by the generated characters
  std::vector<Tensor> logits;  // the (V) logits each generated character was chosen from
};

// Feeds the prompt once, then one character at a time through the carried state: argmax when `temperature`
// is 0, otherwise a sample from the `top_k` most likely characters at that temperature.
Continuation generate(CharLSTM& model, const std::vector<int64_t>& prompt, int64_t new_chars, double temperature,
                      int64_t top_k, Generator& gen) {
  NoGradGuard no_grad;
  Continuation out{prompt, {}};
  const auto length = static_cast<int64_t>(prompt.size());
  LanguageModelStep state = model.step(tensor(prompt, {1, length}, dtype(kInt64)), {}, {});
  Tensor last = state.logits.select(1, length - 1).select(0, 0);
  for (int64_t i = 0; i < new_chars; ++i) {
    out.logits.push_back(last);
    int64_t next = 0;
    if (temperature == 0) {
      next = last.argmax().item<int64_t>();
    } else {
      const Tensor filtered = nn::top_k_filter(nn::temperature_scale(last.unsqueeze(0), temperature), top_k);
      next = multinomial(F::softmax(filtered, -1), 1, false, &gen).item<int64_t>();
    }
    out.ids.push_back(next);
    state = model.step(tensor(std::vector<int64_t>{next}, {1, 1}, dtype(kInt64)), state.h, state.c);
    last = state.logits.select(1, 0).select(0, 0);
  }
  return out;
}

// The logits computed character by character through the carried state must equal those of one forward pass
// over the whole sequence (within float rounding). Returns the largest difference.
double check_against_full_pass(CharLSTM& model, const Continuation& c) {
  NoGradGuard no_grad;
  const auto length = static_cast<int64_t>(c.ids.size());
  const Tensor full = model(tensor(c.ids, {1, length}, dtype(kInt64))).select(0, 0);  // (L, V)
  const int64_t prompt_length = length - static_cast<int64_t>(c.logits.size());
  double worst = 0;
  for (size_t i = 0; i < c.logits.size(); ++i) {
    const Tensor expected = full.select(0, prompt_length - 1 + static_cast<int64_t>(i));
    worst = std::max(worst, (expected - c.logits[i]).abs().max().item<double>());
  }
  GRAFT_CHECK(worst < 1e-3, "generation through the carried LSTM state differs from a full forward pass by {}", worst);
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  TrainingFlags flags;
  flags.batch_size = 32;
  flags.lr = 3e-3;
  flags.seed = 1337;
  int64_t steps = 400, eval_every = 100, train_eval_windows = 64, embedding_dim = 64, hidden = 256, layers = 2,
          context = 64, new_chars = 150, top_k = 10;
  double clip = 1.0, dropout = 0.2, temperature = 0.8;
  std::string text_path = "/usr/share/common-licenses/GPL-3", prompt_text = "This License";

  CLI::App app{"A character-level LSTM language model trained on a text (the same split and windows as tiny_gpt), "
               "then sampled through its recurrent state."};
  app.add_option("--steps", steps, "training steps")->check(examples::Positive)->capture_default_str();
  app.add_option("--batch-size", flags.batch_size, "windows per step")->check(examples::Positive)->capture_default_str();
  app.add_option("--lr", flags.lr, "learning rate (Adam)")->check(examples::Positive)->capture_default_str();
  app.add_option("--clip", clip, "gradient-norm clipping threshold")->check(examples::Positive)->capture_default_str();
  app.add_option("--eval-every", eval_every, "steps between evaluations")->check(examples::Positive)->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the initial weights, the training windows and the sampling")->capture_default_str();
  app.add_option("--out-dir,--out", flags.out_dir, "where pictures and weights go; created if missing")->capture_default_str();
  app.add_flag("--quick", flags.quick, "a tiny model for a few steps (what the tests run)");
  app.add_option("--threads", flags.threads, "OpenMP threads (0: OpenMP's default)")->check(examples::NonNegative)->capture_default_str();
  examples::add_profile_flag(app, flags.profile);
  app.add_option("--text", text_path, "the training text")->capture_default_str();
  app.add_option("--embedding", embedding_dim, "character embedding size")->check(examples::Positive)->capture_default_str();
  app.add_option("--hidden", hidden, "LSTM hidden size")->check(examples::Positive)->capture_default_str();
  app.add_option("--layers", layers, "stacked LSTM layers")->check(examples::Positive)->capture_default_str();
  app.add_option("--dropout", dropout, "dropout between LSTM layers")->check(examples::Probability)->capture_default_str();
  app.add_option("--context", context, "characters per training window")->check(examples::Positive)->capture_default_str();
  app.add_option("--prompt", prompt_text, "the text the samples continue")->capture_default_str();
  app.add_option("--max-new-tokens", new_chars, "characters generated per sample")->check(examples::Positive)->capture_default_str();
  app.add_option("--temperature", temperature, "sampling temperature")->check(examples::Positive)->capture_default_str();
  app.add_option("--top-k", top_k, "sampling keeps this many most likely characters")->check(examples::Positive)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (flags.quick) {
    auto quick = [&app](const char* flag, auto& value, auto quick_value) { quick_default(app, flag, value, quick_value); };
    quick("--steps", steps, 40);
    quick("--eval-every", eval_every, 20);
    quick("--batch-size", flags.batch_size, 16);
    quick("--lr", flags.lr, 1e-2);
    quick("--embedding", embedding_dim, 16);
    quick("--hidden", hidden, 32);
    quick("--context", context, 32);
    quick("--max-new-tokens", new_chars, 40);
    train_eval_windows = 16;
  }

  return run_guarded([&] {
    prepare(flags);
    const CharCorpus corpus = CharCorpus::load(text_path, context);
    const CharVocab& vocab = corpus.vocab;
    const double entropy = corpus.unigram_entropy();
    fmt::print("{}: {} characters, {} distinct; {} train, {} validation\n", text_path,
               corpus.train.size() + corpus.val.size(), vocab.size(), corpus.train.size(), corpus.val.size());
    fmt::print("unigram entropy of the training text: {:.3f} nats/char (uniform: {:.3f})\n", entropy,
               std::log(static_cast<double>(vocab.size())));
    const std::vector<int64_t> prompt = vocab.encode(prompt_text, "--prompt");
    GRAFT_CHECK(!prompt.empty(), "--prompt: the prompt is empty");

    manual_seed(flags.seed);
    auto model = std::make_shared<CharLSTM>(vocab.size(), embedding_dim, hidden, layers, layers > 1 ? dropout : 0.0);
    int64_t parameters = 0;
    for (const Tensor& p : model->parameters()) parameters += p.numel();
    optim::Adam adam(model->parameters(), optim::AdamOptions(flags.lr));
    fmt::print("{}\n{} parameters; Adam(lr={:g}), clip {:g}, batch {} x {} characters, {} steps, {} threads\n\n",
               model->repr(), parameters, flags.lr, clip, flags.batch_size, context, steps, omp_get_max_threads());

    Generator windows_generator(flags.seed);
    const std::vector<int64_t> val_starts = covering_starts(corpus.val, context);
    const std::vector<int64_t> train_eval_starts =
        random_starts(corpus.train, train_eval_windows, context, windows_generator);
    std::vector<double> step_loss, eval_step, train_loss, val_loss;
    auto record_evaluation = [&](int64_t step) {
      eval_step.push_back(static_cast<double>(step));
      train_loss.push_back(evaluate(*model, corpus.train, train_eval_starts, context, flags.batch_size).loss);
      val_loss.push_back(evaluate(*model, corpus.val, val_starts, context, flags.batch_size).loss);
    };
    record_evaluation(0);
    fmt::print("step 0: train loss {:.4f}, val loss {:.4f}\n", train_loss.back(), val_loss.back());

    const auto training_start = Clock::now();
    const std::vector<Tensor> params = model->parameters();
    RunProfile run_profile(flags.profile);
    for (int64_t done = 0; done < steps;) {
      const int64_t n = std::min(eval_every, steps - done);
      ProgressBar bar(fmt::format("steps {}-{}/{}", done + 1, done + n, steps), n, std::cout, {}, "chars");
      double grad_norm = 0;
      for (int64_t i = 0; i < n; ++i, ++done) {
        const CharBatch b =
            windows(corpus.train, random_starts(corpus.train, flags.batch_size, context, windows_generator), context);
        adam.zero_grad();
        const Tensor logits = (*model)(b.x);
        const Tensor loss = next_char_loss(logits, b.y);
        loss.backward();
        grad_norm = nn::utils::clip_grad_norm_(params, clip);
        adam.step();
        const double value = loss.item<double>();
        GRAFT_CHECK(std::isfinite(value), "training diverged at step {} (loss {}); try a smaller --lr", done + 1, value);
        step_loss.push_back(value);
        const int64_t count = b.y.numel();
        bar.update(count, value, count_correct(logits.detach().reshape({count, vocab.size()}), b.y.reshape({count})));
      }
      record_evaluation(done);
      bar.finish(fmt::format("| step {}: train loss {:.4f}, val loss {:.4f} | grad norm {:.2f}", done,
                             train_loss.back(), val_loss.back(), grad_norm));
    }
    const double training_seconds = seconds_since(training_start);
    fmt::print("\ntrained {} steps in {:.1f} s ({:.0f} ms/step); final train loss {:.4f}, val loss {:.4f} "
               "(unigram entropy {:.4f})\n\n",
               steps, training_seconds, 1000 * training_seconds / static_cast<double>(steps), train_loss.back(),
               val_loss.back(), entropy);
    run_profile.finish();

    // Continuations of the prompt through the carried state, each checked against a full forward pass.
    model->eval();
    Generator sampling_generator(flags.seed);
    auto show = [&](const std::string& title, const Continuation& c) {
      const double difference = check_against_full_pass(*model, c);
      const std::vector<int64_t> generated(c.ids.begin() + static_cast<std::ptrdiff_t>(prompt.size()), c.ids.end());
      fmt::print("--- {} ({} characters; the carried state agrees with a full forward pass within {:.1e}) ---\n{}{}\n\n",
                 title, generated.size(), difference, prompt_text, vocab.decode(generated));
    };
    show("greedy", generate(*model, prompt, new_chars, 0.0, 0, sampling_generator));
    show(fmt::format("top-k sampling, k = {}, temperature {}", top_k, temperature),
         generate(*model, prompt, new_chars, temperature, top_k, sampling_generator));

    const json config = {{"vocab_size", vocab.size()}, {"embedding", embedding_dim}, {"hidden", hidden},
                         {"layers", layers},           {"context", context}};
    const std::string model_path = output_path(flags, "model.safetensors");
    nn::save_safetensors(model->state_dict(), model_path,
                         {{"config", config.dump()}, {"vocab", vocab.to_json().dump()}});
    std::vector<double> step_axis;
    for (int64_t i = 1; i <= steps; ++i) step_axis.push_back(static_cast<double>(i));
    const std::string curves = output_path(flags, "curves.svg");
    write_text_file(curves_svg({{"loss (nats/char)", "step", "cross-entropy",
                                 {{"train batch", step_axis, step_loss},
                                  {"train", eval_step, train_loss},
                                  {"validation", eval_step, val_loss},
                                  {"unigram entropy", {0.0, static_cast<double>(steps)}, {entropy, entropy}}}}}),
                    curves);
    fmt::print("weights: {}\ncurves: {}\n", model_path, curves);
    return 0;
  });
}
