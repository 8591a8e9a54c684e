// The character-level text utilities tiny_gpt and char_lstm share (examples/common/char_text): the
// vocabulary of a text's bytes, its split, and the windows both models are trained and evaluated on.
#include <gtest/gtest.h>

#include <fstream>

#include <graft/graft.h>

#include "common/char_text.h"
#include "example_runner.h"

namespace graft::examples {
namespace {

TEST(CharVocab, IdsAreTheRanksOfTheDistinctBytesAndDecodeInverts) {
  const CharVocab vocab("banana\xc3\xa9");  // two bytes of one UTF-8 character are two tokens
  EXPECT_EQ(vocab.size(), 5);
  EXPECT_EQ(vocab.encode("abn", "t"), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(vocab.decode(vocab.encode("nab\xc3\xa9", "t")), "nab\xc3\xa9");
  EXPECT_EQ(vocab.to_json().dump(), "[97,98,110,169,195]");
  try {
    vocab.encode("bad", "--prompt");
    FAIL() << "a byte outside the vocabulary must raise";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--prompt: the character \"d\" (byte 100)"), std::string::npos) << e.what();
  }
}

TEST(CharCorpus, SplitsNinetyTenAndRejectsATextTooShortForAWindow) {
  testing::TempDir dir;
  const std::string path = dir / "text.txt";
  std::ofstream(path) << std::string(100, 'a') << std::string(100, 'b');
  const CharCorpus corpus = CharCorpus::load(path, 8);
  EXPECT_EQ(corpus.train.size(), 180u);
  EXPECT_EQ(corpus.val.size(), 20u);
  EXPECT_NEAR(corpus.unigram_entropy(), -(100.0 / 180) * std::log(100.0 / 180) - (80.0 / 180) * std::log(80.0 / 180),
              1e-12);
  EXPECT_THROW(CharCorpus::load(path, 19), Error);  // the validation part (20) must exceed context + 1
}

TEST(CharWindows, TargetsAreTheInputsShiftedByOneAndCoveringWindowsReachTheEnd) {
  std::vector<int64_t> ids(23);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
  const CharBatch b = windows(ids, {0, 5}, 4);
  EXPECT_EQ(b.x.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 5, 6, 7, 8}));
  EXPECT_EQ(b.y.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4, 6, 7, 8, 9}));
  // 22 targets in windows of 5: four full windows and one that ends at the last character.
  EXPECT_EQ(covering_starts(ids, 5), (std::vector<int64_t>{0, 5, 10, 15, 17}));
  Generator gen(3);
  for (const int64_t s : random_starts(ids, 100, 5, gen)) {
    EXPECT_GE(s, 0);
    EXPECT_LE(s + 5, 22);  // the window's last target, s + 5, is inside the text
  }
}

TEST(CharEvaluation, AveragesTheLossOverEveryPredictedCharacter) {
  const std::vector<int64_t> ids{0, 1, 0, 1, 0, 1, 0, 1, 0};
  // A model whose logits are uniform over two characters loses ln 2 on every character.
  auto uniform = [](const Tensor& x) { return zeros({x.size(0), x.size(1), 2}); };
  const CharEvaluation e = evaluate_windows(uniform, ids, covering_starts(ids, 3), 3, 2);
  EXPECT_NEAR(e.loss, std::log(2.0), 1e-6);
}

}  // namespace
}  // namespace graft::examples
