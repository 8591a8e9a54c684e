// DOT export of the autograd graph (torchviz's make_dot) and rendering through Graphviz's library.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "graft/graft.h"

using namespace graft;
namespace fs = std::filesystem;

namespace {

// A small MLP: loss = mean((tanh(x @ w1 + b1) @ w2)^2).
struct TinyModel {
  Tensor x = randn({4, 3}, kFloat64);
  Tensor w1 = randn({3, 5}, kFloat64).requires_grad_();
  Tensor b1 = zeros({5}, kFloat64).requires_grad_();
  Tensor w2 = randn({5, 1}, kFloat64).requires_grad_();
  Tensor loss() const { return matmul(tanh(matmul(x, w1) + b1), w2).pow(2).mean(); }
  std::map<std::string, Tensor> params() const { return {{"w1", w1}, {"b1", b1}, {"w2", w2}}; }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "graft-dot-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
  size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(path), {})); }
};

// A strict-enough XML well-formedness check: tags nest and close, attributes are quoted. Returns the text
// content (between tags) so tests can look for labels, or throws on malformed input.
std::string xml_text(const std::string& xml) {
  std::vector<std::string> open;
  std::string text;
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      text += xml[i++];
      continue;
    }
    auto skip_to = [&](const std::string& end) {
      size_t e = xml.find(end, i);
      if (e == std::string::npos) throw std::runtime_error("unterminated " + xml.substr(i, 10));
      i = e + end.size();
    };
    if (xml.compare(i, 4, "<!--") == 0) skip_to("-->");
    else if (xml.compare(i, 2, "<?") == 0) skip_to("?>");
    else if (xml.compare(i, 2, "<!") == 0) skip_to(">");
    else {
      size_t e = i + 1;
      char quote = 0;
      for (; e < xml.size() && (quote || xml[e] != '>'); ++e)
        if (quote && xml[e] == quote) quote = 0;
        else if (!quote && (xml[e] == '"' || xml[e] == '\'')) quote = xml[e];
      if (e == xml.size()) throw std::runtime_error("unterminated tag");
      std::string tag = xml.substr(i + 1, e - i - 1);
      i = e + 1;
      if (tag.empty()) throw std::runtime_error("empty tag");
      if (tag[0] == '/') {
        std::string name = tag.substr(1, tag.find_first_of(" \t\n") - 1);
        if (open.empty() || open.back() != name) throw std::runtime_error("mismatched </" + name + ">");
        open.pop_back();
      } else if (tag.back() != '/') {
        open.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
      }
      text += ' ';
    }
  }
  if (!open.empty()) throw std::runtime_error("unclosed <" + open.back() + ">");
  return text;
}

}  // namespace

// ---------------------------------------------------------------- to_dot

TEST(ToDot, WritesTorchvizStyleNodesAndEdges) {
  Tensor a = ones({2, 3}).requires_grad_();
  Tensor b = ones({2, 3}).requires_grad_();
  Tensor out = a * b;
  // Node ids follow the traversal from the output: the output, its grad_fn, then depth-first through the
  // next functions, each AccumulateGrad followed by its leaf.
  const std::string expected =
      "digraph {\n"
      "\tgraph [size=\"12,12\"]\n"
      "\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]\n"
      "\t0 [label=\"\\n (2, 3)\" fillcolor=darkolivegreen1]\n"
      "\t1 [label=\"MulBackward0\\n(2, 3)\" fillcolor=lightgrey]\n"
      "\t2 -> 1\n"
      "\t2 [label=\"AccumulateGrad\\n(2, 3)\" fillcolor=lightgrey]\n"
      "\t3 [label=\"a\\n (2, 3)\" fillcolor=lightblue]\n"
      "\t3 -> 2\n"
      "\t4 -> 1\n"
      "\t4 [label=\"AccumulateGrad\\n(2, 3)\" fillcolor=lightgrey]\n"
      "\t5 [label=\"\\n (2, 3)\" fillcolor=lightblue]\n"
      "\t5 -> 4\n"
      "\t1 -> 0\n"
      "}\n";
  EXPECT_EQ(to_dot({out}, {{"a", a}}), expected);
}

TEST(ToDot, LabelsNamesShapesAndColours) {
  manual_seed(0);
  TinyModel m;
  Tensor loss = m.loss();
  std::string dot = to_dot({loss}, m.params());
  // Backward nodes, grey, with their output shapes.
  for (const char* label : {"MeanBackward0\\n()", "PowBackward0\\n(4, 1)", "MmBackward0\\n(4, 1)",
                            "TanhBackward0\\n(4, 5)", "AddBackward0\\n(4, 5)", "MmBackward0\\n(4, 5)"})
    EXPECT_NE(dot.find(fmt::format("[label=\"{}\" fillcolor=lightgrey]", label)), std::string::npos) << label;
  // Parameters, light blue, by name with their shapes.
  EXPECT_NE(dot.find("[label=\"w1\\n (3, 5)\" fillcolor=lightblue]"), std::string::npos);
  EXPECT_NE(dot.find("[label=\"b1\\n (5)\" fillcolor=lightblue]"), std::string::npos);
  EXPECT_NE(dot.find("[label=\"w2\\n (5, 1)\" fillcolor=lightblue]"), std::string::npos);
  // The output, green, 0-dim.
  EXPECT_NE(dot.find("\t0 [label=\"\\n ()\" fillcolor=darkolivegreen1]"), std::string::npos);
  EXPECT_EQ(count(dot, "fillcolor=lightblue"), 3u);  // x does not require grad: not in the graph
  EXPECT_EQ(count(dot, "AccumulateGrad"), 3u);
  EXPECT_EQ(count(dot, "fillcolor=darkolivegreen1"), 1u);
  // 6 backward nodes + 3 accumulators + 3 leaves + 1 output; edges: 5 between backward nodes, 3 from
  // the accumulators to their consumers, 3 leaf -> accumulator, 1 into the output.
  EXPECT_EQ(count(dot, " [label="), 13u);
  EXPECT_EQ(count(dot, " -> "), 12u);
  EXPECT_EQ(dot.find("0x"), std::string::npos) << "no addresses in the DOT";
}

TEST(ToDot, NodesSharedByTwoPathsAppearOnce) {
  Tensor x = ones({3}).requires_grad_();
  Tensor y = x.exp();
  Tensor z = y * y + y;  // y's node feeds three edges
  std::string dot = to_dot({z});
  EXPECT_EQ(count(dot, "ExpBackward0"), 1u);
  EXPECT_EQ(count(dot, "AccumulateGrad"), 1u);
  EXPECT_EQ(count(dot, " -> "), 1u /*z*/ + 2u /*mul, exp into add*/ + 2u /*exp into mul twice*/ + 1u /*acc*/ + 1u /*leaf*/);
}

TEST(ToDot, SeveralOutputsAndOutputsOutsideTheGraph) {
  Tensor x = ones({2}).requires_grad_();
  Tensor a = x * 2.0, b = x + 1.0;
  Tensor plain = zeros({4});
  std::string dot = to_dot({a, b, plain, a});  // a repeated: drawn once
  EXPECT_EQ(count(dot, "fillcolor=darkolivegreen1"), 3u);
  EXPECT_EQ(count(dot, "AccumulateGrad"), 1u);
  EXPECT_NE(dot.find("[label=\"\\n (4)\" fillcolor=darkolivegreen1]"), std::string::npos);
  // A leaf that is itself an output is green first, then drawn as a leaf where the graph reaches it.
  std::string leaf_out = to_dot({x}, {{"x", x}});
  EXPECT_NE(leaf_out.find("\t0 [label=\"x\\n (2)\" fillcolor=darkolivegreen1]"), std::string::npos);
}

TEST(ToDot, DumpsAreStableAndIdenticalForIdenticallyBuiltGraphs) {
  manual_seed(1);
  TinyModel m1;
  manual_seed(2);  // different values, same structure
  TinyModel m2;
  Tensor l1 = m1.loss(), l2 = m2.loss();
  std::string d1 = to_dot({l1}, m1.params());
  EXPECT_EQ(d1, to_dot({l1}, m1.params()));
  EXPECT_EQ(d1, to_dot({l2}, m2.params()));
  // Building more graphs in between (other addresses, later creation numbers) changes nothing.
  std::vector<Tensor> noise;
  for (int i = 0; i < 50; ++i) noise.push_back(m1.loss());
  TinyModel m3 = m1;
  EXPECT_EQ(d1, to_dot({m3.loss()}, m3.params()));
}

TEST(ToDot, QuotesNamesAndRejectsUndefinedTensors) {
  Tensor w = ones({2}).requires_grad_();
  std::string dot = to_dot({w * 3.0}, {{"layer \"0\" \\ weight", w}});
  EXPECT_NE(dot.find("label=\"layer \\\"0\\\" \\\\ weight\\n (2)\""), std::string::npos) << dot;
  EXPECT_THROW(to_dot({Tensor()}), Error);
  EXPECT_THROW(to_dot({w}, {{"w", Tensor()}}), Error);
}

TEST(ToDot, GrowsTheDrawingWithTheGraphAsTorchvizDoes) {
  Tensor x = ones({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 60; ++i) y = y * 2.0;
  // 125 statements: the output and the edge into it, 60 mul nodes and the 59 edges between them, the
  // accumulator, its edge into the first mul, the leaf and its edge. 125 * 0.15 = 18.75 inches.
  std::string dot = to_dot({y});
  EXPECT_NE(dot.find("graph [size=\"18.75,18.75\"]"), std::string::npos) << dot.substr(0, 120);
  // Python prints a whole float with ".0": 80 * 0.15 = 12.0 is not more than 12, 160 * 0.15 = 24.0 is.
  Tensor z = x;
  for (int i = 0; i < 77; ++i) z = z * 2.0;  // 2 * 77 + 5 statements, and one more for a second output
  EXPECT_NE(to_dot({z, zeros({1})}).find("graph [size=\"24.0,24.0\"]"), std::string::npos);
}

// Nodes made inside named scopes (every module call opens one) are drawn in nested clusters; with a depth
// limit, a scope at that depth becomes one box standing for everything inside it.
TEST(ToDot, GroupsNodesByScopeAndCollapsesBelowTheDepthLimit) {
  Tensor w = randn({3, 3}).requires_grad_();
  Tensor out;
  {
    NodeScope model("", "Net");
    Tensor h;
    {
      NodeScope block("blocks.0", "Block");
      h = tanh(matmul(randn({2, 3}), w));
      NodeScope inner("fc", "Linear");
      h = h * 2.0 + 1.0;
    }
    out = h.sum();
  }
  const std::string full = to_dot({out}, {{"w", w}});
  EXPECT_NE(full.find("subgraph cluster_"), std::string::npos) << full;
  EXPECT_NE(full.find("label=\"Net\""), std::string::npos) << full;
  EXPECT_NE(full.find("label=\"blocks.0 (Block)\""), std::string::npos) << full;
  EXPECT_NE(full.find("label=\"blocks.0.fc (Linear)\""), std::string::npos) << full;
  EXPECT_EQ(count(full, "subgraph cluster_"), 3u);
  EXPECT_NE(full.find("TanhBackward0"), std::string::npos);

  const std::string depth1 = to_dot({out}, {{"w", w}}, {.max_depth = 1});
  EXPECT_EQ(count(depth1, "subgraph cluster_"), 1u) << depth1;  // Net; blocks.0 is one box
  EXPECT_EQ(depth1.find("TanhBackward0"), std::string::npos) << depth1;
  EXPECT_NE(depth1.find("blocks.0 (Block)\\n"), std::string::npos) << depth1;
  EXPECT_NE(depth1.find(" nodes"), std::string::npos) << depth1;
  const std::string flat = to_dot({out}, {{"w", w}}, {.cluster_by_scope = false});
  EXPECT_EQ(count(flat, "subgraph"), 0u);
  EXPECT_THROW(to_dot({out}, {}, {.max_depth = -2}), Error);
}

TEST(ToDot, DeepGraphsNeedNoRecursion) {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x;
  const int depth = 200000;
  for (int i = 0; i < depth; ++i) y = y * 1.0;
  std::string dot = to_dot({y});
  EXPECT_EQ(count(dot, "MulBackward1"), static_cast<size_t>(depth));
  EXPECT_EQ(count(dot, " -> "), static_cast<size_t>(depth) + 2);
}

// ---------------------------------------------------------------- render_dot

TEST(RenderDot, RendersARealModelAsSvgPngAndPdf) {
  manual_seed(3);
  TinyModel m;
  std::string dot = to_dot({m.loss()}, m.params());
  TempDir dir;

  fs::path svg = dir.path / "model.svg";
  render_dot(dot, svg.string());
  std::string svg_text = read_file(svg);
  std::string text;
  ASSERT_NO_THROW(text = xml_text(svg_text));
  EXPECT_NE(svg_text.find("<svg"), std::string::npos);
  for (const char* label : {"MeanBackward0", "TanhBackward0", "MmBackward0", "AccumulateGrad", "w1", "b1", "w2",
                            "(3, 5)", "(4, 1)"})
    EXPECT_NE(text.find(label), std::string::npos) << label;

  fs::path png = dir.path / "model.png";
  render_dot(dot, png.string());
  std::string png_bytes = read_file(png);
  ASSERT_GT(png_bytes.size(), 8u);
  EXPECT_EQ(png_bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  fs::path pdf = dir.path / "model.PDF";  // the extension is case-insensitive
  render_dot(dot, pdf.string());
  EXPECT_EQ(read_file(pdf).substr(0, 5), "%PDF-");

  EXPECT_EQ(dir.entries(), 3u) << "no temporary files are left behind";
}

TEST(RenderDot, ReplacesAnExistingFile) {
  TempDir dir;
  fs::path svg = dir.path / "g.svg";
  write_file(svg, "old");
  render_dot("digraph { a -> b }", svg.string());
  EXPECT_NE(read_file(svg).find("<svg"), std::string::npos);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(RenderDot, UnknownExtensionIsAnErrorNamingIt) {
  TempDir dir;
  for (const char* name : {"g.jpg", "g", "g.svg.txt"}) {
    try {
      render_dot("digraph { a }", (dir.path / name).string());
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      std::string ext = fs::path(name).extension().string();
      std::string shown = ext.empty() ? "''" : "'" + ext.substr(1) + "'";
      EXPECT_NE(std::string(e.what()).find("unsupported format " + shown), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(dir.entries(), 0u);
}

TEST(RenderDot, InvalidDotIsAnError) {
  TempDir dir;
  try {
    render_dot("digraph { a -> ; }", (dir.path / "g.svg").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid DOT"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("syntax error"), std::string::npos) << e.what();
  }
  EXPECT_THROW(render_dot("", (dir.path / "g.svg").string()), Error);
  EXPECT_EQ(dir.entries(), 0u);
  // Graphviz recovers: the next render works.
  render_dot("digraph { a -> b }", (dir.path / "g.svg").string());
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(RenderDot, AFailedRenderKeepsTheExistingFile) {
  TempDir dir;
  fs::path png = dir.path / "g.png";
  write_file(png, "the previous picture");
  EXPECT_THROW(render_dot("digraph { a -> }", png.string()), Error);
  EXPECT_EQ(read_file(png), "the previous picture");
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(RenderDot, AMissingDirectoryIsAnError) {
  TempDir dir;
  EXPECT_THROW(render_dot("digraph { a }", (dir.path / "missing" / "g.svg").string()), Error);
}
