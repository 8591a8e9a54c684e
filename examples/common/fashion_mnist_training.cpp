#include "common/fashion_mnist_training.h"

#include <omp.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/metrics.h"
#include "common/mixed_precision.h"
#include "common/profiling.h"
#include "graft/utils/graph_picture.h"
#include "graft/utils/plot.h"
#include "graft/utils/progress.h"

namespace graft::examples {
namespace {

using namespace graft::utils;
namespace F = graft::nn::functional;
using nlohmann::json;

// Everything that decides the trajectory of a run: a resumed run must use the same.
struct RunConfig {
  int64_t epochs, batch_size, limit_train;
  double lr;
  uint64_t seed;
  std::string schedule, amp;

  json to_json() const {
    return {{"epochs", epochs}, {"batch_size", batch_size}, {"limit_train", limit_train}, {"lr", lr},
            {"seed", seed},     {"schedule", schedule},     {"amp", amp}};
  }
  // Differences from a checkpoint's configuration, as "name: checkpoint X, now Y" lines. The number of
  // epochs may grow when the learning rate is constant.
  std::vector<std::string> differences(const json& saved) const {
    std::vector<std::string> out;
    const json now = to_json();
    for (const auto& [key, value] : now.items()) {
      if (key == "epochs" && schedule == "constant") continue;
      // Checkpoints written before --amp existed trained in float32.
      const json was = saved.contains(key) ? saved[key] : key == "amp" ? json("off") : json();
      if (was != value)
        out.push_back(fmt::format("{}: the checkpoint has {}, this run {}", key, was.is_null() ? "nothing" : was.dump(), value.dump()));
    }
    return out;
  }
};

struct History {
  std::vector<double> train_loss, train_acc, test_loss, test_acc, seconds;
  json to_json() const {
    return {{"train_loss", train_loss}, {"train_acc", train_acc}, {"test_loss", test_loss}, {"test_acc", test_acc}, {"seconds", seconds}};
  }
  static History from_json(const json& j) {
    History h;
    j.at("train_loss").get_to(h.train_loss);
    j.at("train_acc").get_to(h.train_acc);
    j.at("test_loss").get_to(h.test_loss);
    j.at("test_acc").get_to(h.test_acc);
    j.at("seconds").get_to(h.seconds);
    return h;
  }
  size_t epochs() const { return train_loss.size(); }
};

// The first `limit` examples (all when limit is 0 or larger than the set).
data::TensorDataset first(const data::TensorDataset& set, int64_t limit) {
  if (limit <= 0 || limit >= set.size()) return set;
  return data::TensorDataset(set.inputs().narrow(0, 0, limit), set.targets().narrow(0, 0, limit));
}

struct Evaluation {
  double loss, accuracy;
};

Evaluation evaluate(nn::Module& model, const data::TensorDataset& set, const MixedPrecision& amp) {
  NoGradGuard no_grad;
  model.eval();
  constexpr int64_t kChunk = 1000;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < set.size(); start += kChunk) {
    const int64_t n = std::min(kChunk, set.size() - start);
    Tensor x = set.inputs().narrow(0, start, n), y = set.targets().narrow(0, start, n);
    auto autocast = amp.autocast();
    Tensor logits = model(x);
    loss_sum += F::cross_entropy(logits, y, {}, -100, "sum").item<double>();
    correct += count_correct(logits, y);
  }
  model.train();
  const auto total = static_cast<double>(set.size());
  return {loss_sum / total, static_cast<double>(correct) / total};
}

}  // namespace

int run_fashion_mnist_example(int argc, char** argv, const FashionMnistExample& example) {
  TrainingFlags flags;
  flags.epochs = example.epochs;
  flags.batch_size = 128;
  flags.lr = 1e-3;
  bool resume = false;
  int64_t limit_train = 0, limit_test = 0, stop_after = 0;
  std::string data_dir = data::FashionMNIST::kDefaultRoot, schedule = "cosine", amp_mode = "off";
  CLI::App app{example.description};
  add_training_flags(app, flags);
  app.add_flag("--resume", resume, "continue from <out-dir>/checkpoint.safetensors (same settings as the first run)");
  app.add_option("--limit-train", limit_train, "use only the first N training images (0: all 60000)")->check(examples::NonNegative);
  app.add_option("--limit-test", limit_test, "use only the first N test images (0: all 10000)")->check(examples::NonNegative);
  app.add_option("--schedule", schedule, "learning-rate schedule per epoch")
      ->check(CLI::IsMember({"constant", "cosine"}))
      ->capture_default_str();
  app.add_option("--stop-after-epoch", stop_after, "stop after this epoch's checkpoint, as if interrupted (0: never)")
      ->check(examples::NonNegative);
  add_amp_flag(app, amp_mode);
  app.add_option("--data-dir", data_dir, "the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // --quick: two epochs on a subset, unless the flags say otherwise.
  if (flags.quick) {
    if (app.count("--epochs") == 0) flags.epochs = example.quick_epochs;
    if (app.count("--limit-train") == 0) limit_train = example.quick_limit_train;
    if (app.count("--limit-test") == 0) limit_test = example.quick_limit_test;
  }

  return run_guarded([&] {
    prepare(flags);
    const RunConfig config{flags.epochs, flags.batch_size, limit_train, flags.lr, flags.seed, schedule, amp_mode};
    MixedPrecision amp(amp_mode);
    const std::string checkpoint_path = output_path(flags, "checkpoint.safetensors");

    // With --resume, the checkpoint is read and checked before anything else.
    std::optional<optim::Checkpoint> checkpoint;
    json run_state;
    if (resume) {
      GRAFT_CHECK(std::filesystem::exists(checkpoint_path), "--resume: there is no checkpoint at {}", checkpoint_path);
      checkpoint = optim::load_checkpoint(checkpoint_path);
      run_state = json::parse(checkpoint->at("run").metadata);
      const std::vector<std::string> diffs = config.differences(run_state.at("config"));
      GRAFT_CHECK(diffs.empty(), "--resume: {} was written with other settings:\n  {}", checkpoint_path, fmt::join(diffs, "\n  "));
    }

    const auto load_start = std::chrono::steady_clock::now();
    const data::TensorDataset train = first(data::FashionMNIST(data_dir, true, example.flatten_images), limit_train);
    const data::TensorDataset test = first(data::FashionMNIST(data_dir, false, example.flatten_images), limit_test);
    fmt::print("Fashion-MNIST: {} training and {} test images from {} ({:.1f} s)\n", train.size(), test.size(), data_dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());

    manual_seed(flags.seed);
    const nn::ModulePtr model = example.make_model();
    optim::Adam adam(model->parameters(), optim::AdamOptions(flags.lr));
    std::unique_ptr<optim::LRScheduler> scheduler;
    if (schedule == "cosine") scheduler = std::make_unique<optim::CosineAnnealingLR>(adam, flags.epochs);
    data::DataLoader loader(train, data::DataLoaderOptions(flags.batch_size).shuffle(true).seed(flags.seed));

    History history;
    int64_t done = 0;  // epochs completed
    if (checkpoint) {
      model->load_state_dict(checkpoint->at("model").tensors);
      adam.load_state_dict(checkpoint->at("optimizer"));
      if (scheduler) scheduler->load_state_dict(checkpoint->at("scheduler"));
      if (amp.scaler().is_enabled()) amp.scaler().load_state_dict(checkpoint->at("scaler"));
      default_generator().set_state(run_state.at("generator").get<std::string>());
      loader.generator().set_state(run_state.at("loader_generator").get<std::string>());
      history = History::from_json(run_state.at("history"));
      done = run_state.at("epoch").get<int64_t>();
      fmt::print("Resuming from {} after epoch {}\n", checkpoint_path, done);
    }
    int64_t parameters = 0;
    for (const Tensor& p : model->parameters()) parameters += p.numel();
    fmt::print("{}\n{} parameters; Adam(lr={}), batch {}, {} schedule, {} epochs, {} threads{}\n\n", model->repr(),
               parameters, flags.lr, flags.batch_size, schedule, flags.epochs, omp_get_max_threads(),
               amp.enabled() ? fmt::format(", mixed precision ({} products, float32 master weights)", amp_mode) : "");

    RunProfile run_profile(flags.profile);
    for (int64_t epoch = done; epoch < flags.epochs; ++epoch) {
      loader.set_epoch(epoch);  // this epoch's order does not depend on how many epochs ran before
      const auto epoch_start = std::chrono::steady_clock::now();
      ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, flags.epochs), loader.size());
      for (const auto& [x, y] : loader) {
        adam.zero_grad();
        Tensor logits, loss;
        {
          auto autocast = amp.autocast();
          logits = (*model)(x);
          loss = F::cross_entropy(logits, y);
        }
        amp.backward_and_step(loss, adam);
        bar.update(x.size(0), loss.item<double>(), count_correct(logits.detach(), y));
      }
      if (scheduler) scheduler->step();
      const Evaluation eval = evaluate(*model, test, amp);
      history.train_loss.push_back(bar.mean_loss());
      history.train_acc.push_back(100 * bar.accuracy().value_or(0));
      history.test_loss.push_back(eval.loss);
      history.test_acc.push_back(100 * eval.accuracy);
      // The epoch's time: training and the test pass (the checkpoint, written next, holds it).
      history.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count());

      optim::Checkpoint ckpt;
      ckpt.insert("model", model->state_dict());
      ckpt.insert("optimizer", adam.state_dict());
      if (scheduler) ckpt.insert("scheduler", scheduler->state_dict());
      if (amp.scaler().is_enabled()) ckpt.insert("scaler", amp.scaler().state_dict());
      optim::Checkpoint run;
      run.metadata = json{{"epoch", epoch + 1},
                          {"config", config.to_json()},
                          {"history", history.to_json()},
                          {"generator", default_generator().get_state()},
                          {"loader_generator", loader.generator().get_state()}}
                         .dump();
      ckpt.insert("run", run);
      optim::save_checkpoint(ckpt, checkpoint_path);
      bar.finish(fmt::format("| test loss {:.4f}  acc {:.2f}%  | epoch {:.1f} s, checkpoint saved", eval.loss,
                             100 * eval.accuracy, history.seconds.back()));
      if (stop_after > 0 && epoch + 1 == stop_after && epoch + 1 < flags.epochs) {
        fmt::print("Stopping after epoch {} as asked; continue with --resume\n", epoch + 1);
        run_profile.finish();
        return 0;
      }
    }

    run_profile.finish();

    // The summary, the final weights and the pictures.
    fmt::print("\n{:>5}  {:>10}  {:>9}  {:>9}  {:>9}  {:>8}\n", "epoch", "train loss", "train acc", "test loss", "test acc", "time");
    for (size_t e = 0; e < history.epochs(); ++e)
      fmt::print("{:>5}  {:>10.4f}  {:>8.2f}%  {:>9.4f}  {:>8.2f}%  {:>6.1f} s\n", e + 1, history.train_loss[e],
                 history.train_acc[e], history.test_loss[e], history.test_acc[e], history.seconds[e]);
    const Evaluation final_eval = evaluate(*model, test, amp);
    fmt::print("Final test accuracy: {:.2f}%\n", 100 * final_eval.accuracy);
    if (amp.scaler().is_enabled())
      fmt::print("loss scale {:g}; {} steps skipped on float16 overflow\n", amp.scaler().get_scale(), amp.skipped_steps());

    const std::string model_path = output_path(flags, "model.safetensors");
    nn::save(*model, model_path);
    std::vector<double> epochs;
    for (size_t e = 1; e <= history.epochs(); ++e) epochs.push_back(static_cast<double>(e));
    const std::string curves = output_path(flags, "curves.svg"), graph = output_path(flags, "graph");
    write_text_file(curves_svg({{"loss", "epoch", "cross-entropy", {{"train", epochs, history.train_loss}, {"test", epochs, history.test_loss}}},
                                {"accuracy", "epoch", "accuracy (%)", {{"train", epochs, history.train_acc}, {"test", epochs, history.test_acc}}}}),
                    curves);
    {
      // The graph of one training step's loss, on a small batch.
      Tensor x = test.inputs().narrow(0, 0, std::min<int64_t>(8, test.size())), y = test.targets().narrow(0, 0, x.size(0));
      write_graph({F::cross_entropy((*model)(x), y)}, *model, graph);
    }
    fmt::print("weights: {}\ncheckpoint: {}\npictures: {}, {}.{{dot,svg}}\n", model_path, checkpoint_path, curves, graph);
    return 0;
  });
}

}  // namespace graft::examples
