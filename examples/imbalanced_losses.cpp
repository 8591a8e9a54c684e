// One classifier, five losses, a strongly imbalanced training set. Three overlapping Gaussian blobs with
// 2000, 200 and 20 training points (100:10:1) train the same small MLP, from the same initial weights on
// the same batches, with
//   - cross-entropy,
//   - cross-entropy weighted by F::compute_class_weight("balanced"),
//   - cross-entropy with label smoothing 0.1,
//   - focal loss (gamma 2),
//   - focal loss (gamma 2) with the balanced class weights as alpha,
// and each is scored on a balanced held-out set (500 points per class): per-class recall, accuracy and
// macro-F1, printed as one table so the effect of each loss on the rare classes shows.
//
// Pictures: curves.svg (training loss, held-out macro-F1 and rarest-class recall per epoch, one line per
// loss) and graph.dot / graph.svg (the graph of the class-weighted focal loss).
//   build/examples/imbalanced_losses [--epochs 40] [--counts 2000,200,20] [--out-dir DIR] [--quick]
#include <graft/graft.h>

#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/cli.h"
#include "graft/utils/graph_picture.h"
#include "common/metrics.h"
#include "common/profiling.h"
#include "graft/utils/plot.h"
#include "graft/utils/progress.h"

using namespace graft;
using namespace graft::examples;
using namespace graft::utils;
namespace F = graft::nn::functional;

namespace {

struct Loss {
  std::string name;
  std::function<Tensor(const Tensor& logits, const Tensor& target)> fn;
};

struct Result {
  ConfusionMatrix final_scores{1};
  std::vector<double> train_loss, macro_f1, rare_recall;
};

std::shared_ptr<nn::Sequential> make_classifier(int64_t classes, int64_t hidden) {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(2, hidden), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, hidden),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, classes)});
}

ConfusionMatrix score(nn::Module& model, const data::TensorDataset& set, int64_t classes) {
  NoGradGuard no_grad;
  ConfusionMatrix cm(classes);
  cm.add(argmax(model(set.inputs()), 1), set.targets());
  return cm;
}

// The rows of `set` whose positions are listed, as a new dataset.
data::TensorDataset rows(const data::TensorDataset& set, const std::vector<int64_t>& index) {
  Tensor i = tensor(index);
  return data::TensorDataset(index_select(set.inputs(), 0, i), index_select(set.targets(), 0, i));
}

}  // namespace

int main(int argc, char** argv) {
  TrainingFlags flags;
  flags.epochs = 40;
  flags.batch_size = 64;
  flags.lr = 3e-3;
  std::vector<int64_t> counts{2000, 200, 20};
  int64_t test_per_class = 500, hidden = 32;
  uint64_t data_seed = 5;
  double cluster_std = 1.6, center_box = 3.0, gamma = 2.0, smoothing = 0.1;
  CLI::App app{"Cross-entropy, class-weighted cross-entropy, label smoothing and focal loss on a strongly imbalanced set."};
  add_training_flags(app, flags);
  app.add_option("--counts", counts, "training points per class")->delimiter(',')->check(examples::Positive)->capture_default_str();
  app.add_option("--test-per-class", test_per_class, "held-out points per class (balanced)")->check(examples::Positive)->capture_default_str();
  app.add_option("--data-seed", data_seed, "seed of the blobs (their centres and points)")->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units of the MLP")->check(examples::Positive)->capture_default_str();
  app.add_option("--cluster-std", cluster_std, "standard deviation of each blob")->check(examples::Positive)->capture_default_str();
  app.add_option("--center-box", center_box, "blob centres lie in [-box, box]^2")->check(examples::Positive)->capture_default_str();
  app.add_option("--gamma", gamma, "focal loss gamma")->check(examples::NonNegative)->capture_default_str();
  app.add_option("--label-smoothing", smoothing, "label smoothing")->check(examples::Probability)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (flags.quick && app.count("--epochs") == 0) flags.epochs = 3;

  return run_guarded([&] {
    prepare(flags);
    const auto classes = static_cast<int64_t>(counts.size());
    GRAFT_CHECK(classes >= 2, "--counts: at least two classes, got {}", classes);

    // One draw of blobs, split per class into the imbalanced training set and the balanced held-out set.
    std::vector<int64_t> drawn;
    for (int64_t c : counts) drawn.push_back(c + test_per_class);
    const data::TensorDataset all = data::make_blobs(drawn, 2, cluster_std, center_box, data_seed);
    std::vector<int64_t> train_rows, test_rows;
    for (int64_t c = 0, start = 0; c < classes; start += drawn[static_cast<size_t>(c)], ++c)
      for (int64_t i = 0; i < drawn[static_cast<size_t>(c)]; ++i)
        (i < counts[static_cast<size_t>(c)] ? train_rows : test_rows).push_back(start + i);
    const data::TensorDataset train = rows(all, train_rows), test = rows(all, test_rows);

    const Tensor class_weight = F::compute_class_weight(train.targets(), classes, "balanced");
    fmt::print("Training points per class: {}; held-out: {} per class; balanced class weights: {::.3f}\n",
               fmt::join(counts, " / "), test_per_class, class_weight.to_vector<double>());
    fmt::print("MLP 2-{}-{}-{}, Adam(lr={}), batch {}, {} epochs; the same initial weights and batches for every loss\n\n",
               hidden, hidden, classes, flags.lr, flags.batch_size, flags.epochs);

    const std::vector<Loss> losses{
        {"cross-entropy", [](const Tensor& z, const Tensor& y) { return F::cross_entropy(z, y); }},
        {"weighted CE (balanced)", [&](const Tensor& z, const Tensor& y) { return F::cross_entropy(z, y, class_weight); }},
        {fmt::format("label smoothing {}", smoothing),
         [&](const Tensor& z, const Tensor& y) { return F::cross_entropy(z, y, {}, -100, "mean", smoothing); }},
        {fmt::format("focal (gamma {})", gamma), [&](const Tensor& z, const Tensor& y) { return F::focal_loss(z, y, 1.0, gamma); }},
        {fmt::format("focal (gamma {}) + alpha", gamma),
         [&](const Tensor& z, const Tensor& y) { return F::focal_loss(z, y, class_weight, gamma); }},
    };

    std::vector<Result> results;
    Tensor graph_loss;
    std::shared_ptr<nn::Sequential> graph_model;
    RunProfile run_profile(flags.profile);
    for (const Loss& loss_fn : losses) {
      manual_seed(flags.seed);
      auto model = make_classifier(classes, hidden);
      optim::Adam adam(model->parameters(), optim::AdamOptions(flags.lr));
      data::DataLoader loader(train, data::DataLoaderOptions(flags.batch_size).shuffle(true).seed(flags.seed));
      Result result;
      ProgressBar bar(loss_fn.name, flags.epochs * loader.size());
      for (int64_t epoch = 0; epoch < flags.epochs; ++epoch) {
        double loss_sum = 0;
        for (const auto& [x, y] : loader) {
          adam.zero_grad();
          Tensor logits = (*model)(x);
          Tensor loss = loss_fn.fn(logits, y);
          loss.backward();
          adam.step();
          loss_sum += loss.item<double>();
          bar.update(x.size(0), loss.item<double>(), count_correct(logits.detach(), y));
          graph_loss = loss;
        }
        const ConfusionMatrix cm = score(*model, test, classes);
        result.train_loss.push_back(loss_sum / static_cast<double>(loader.size()));
        result.macro_f1.push_back(cm.macro_f1());
        result.rare_recall.push_back(100 * cm.recall(classes - 1));
        result.final_scores = cm;
      }
      bar.finish(fmt::format("| held-out macro-F1 {:.3f}", result.final_scores.macro_f1()));
      graph_model = model;
      results.push_back(std::move(result));
    }
    run_profile.finish();

    // The table.
    std::string header = fmt::format("\n{:<26}", "loss (balanced held-out)");
    for (int64_t c = 0; c < classes; ++c) header += fmt::format(" {:>12}", fmt::format("recall {} ({})", c, counts[static_cast<size_t>(c)]));
    header += fmt::format(" {:>9} {:>9}", "accuracy", "macro-F1");
    fmt::print("{}\n{}\n", header, std::string(header.size() - 1, '-'));
    for (size_t k = 0; k < losses.size(); ++k) {
      const ConfusionMatrix& cm = results[k].final_scores;
      std::string line = fmt::format("{:<26}", losses[k].name);
      for (int64_t c = 0; c < classes; ++c) line += fmt::format(" {:>11.1f}%", 100 * cm.recall(c));
      line += fmt::format(" {:>8.1f}% {:>9.3f}", 100 * cm.accuracy(), cm.macro_f1());
      fmt::print("{}\n", line);
    }
    fmt::print("(recall c (n): recall of class c on the held-out set; n is its number of training points)\n");

    // The pictures.
    std::vector<double> epochs;
    for (int64_t e = 1; e <= flags.epochs; ++e) epochs.push_back(static_cast<double>(e));
    Panel loss_panel{"training loss (each on its own scale)", "epoch", "loss", {}};
    Panel f1_panel{"held-out macro-F1", "epoch", "macro-F1", {}};
    Panel rare_panel{fmt::format("held-out recall of class {} ({} training points)", classes - 1, counts.back()), "epoch", "recall (%)", {}};
    for (size_t k = 0; k < losses.size(); ++k) {
      loss_panel.series.push_back({losses[k].name, epochs, results[k].train_loss});
      f1_panel.series.push_back({losses[k].name, epochs, results[k].macro_f1});
      rare_panel.series.push_back({losses[k].name, epochs, results[k].rare_recall});
    }
    const std::string curves = output_path(flags, "curves.svg"), graph = output_path(flags, "graph");
    write_text_file(curves_svg({loss_panel, f1_panel, rare_panel}, 520, 360), curves);
    write_graph({graph_loss}, *graph_model, graph);
    fmt::print("pictures: {}, {}.{{dot,svg}} (the graph of the last loss)\n", curves, graph);
    return 0;
  });
}
