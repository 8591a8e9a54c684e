#include "support/xml_check.h"

#include <sys/wait.h>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <stdexcept>

namespace graft::testing {

namespace {
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' || c == '.';
}
}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string xml_error(const std::string& text) {
  std::vector<std::string> open;
  int roots = 0;
  size_t i = 0;
  const size_t n = text.size();
  auto skip_to = [&](const std::string& end) {
    const size_t j = text.find(end, i);
    if (j == std::string::npos) return false;
    i = j + end.size();
    return true;
  };
  while (i < n) {
    if (text[i] == '&') {
      const size_t semi = text.find(';', i);
      if (semi == std::string::npos) return "unterminated entity";
      const std::string entity = text.substr(i + 1, semi - i - 1);
      if (!(entity == "amp" || entity == "lt" || entity == "gt" || entity == "quot" || entity == "apos" ||
            (entity.size() > 1 && entity[0] == '#')))
        return "unknown entity &" + entity + ";";
      i = semi + 1;
      continue;
    }
    if (text[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(text[i]))) return "text outside the root element";
      ++i;
      continue;
    }
    if (text.compare(i, 4, "<!--") == 0) {
      if (!skip_to("-->")) return "unterminated comment";
      continue;
    }
    if (text.compare(i, 2, "<?") == 0) {
      if (!skip_to("?>")) return "unterminated processing instruction";
      continue;
    }
    if (text.compare(i, 9, "<![CDATA[") == 0) {
      if (!skip_to("]]>")) return "unterminated CDATA";
      continue;
    }
    if (text.compare(i, 2, "<!") == 0) {  // DOCTYPE (no internal subset in the files checked here)
      if (!skip_to(">")) return "unterminated declaration";
      continue;
    }
    const bool closing = text.compare(i, 2, "</") == 0;
    i += closing ? 2 : 1;
    const size_t name_start = i;
    while (i < n && is_name_char(text[i])) ++i;
    const std::string name = text.substr(name_start, i - name_start);
    if (name.empty()) return "a tag without a name";
    if (closing) {
      while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i >= n || text[i] != '>') return "malformed closing tag </" + name;
      ++i;
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      open.pop_back();
      continue;
    }
    // Attributes: name="value" or name='value'.
    bool self_closing = false;
    for (;;) {
      while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i >= n) return "unterminated tag <" + name;
      if (text[i] == '>') { ++i; break; }
      if (text.compare(i, 2, "/>") == 0) { i += 2; self_closing = true; break; }
      const size_t attr_start = i;
      while (i < n && is_name_char(text[i])) ++i;
      if (i == attr_start) return "bad character in tag <" + name;
      while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i >= n || text[i] != '=') return "attribute without a value in <" + name;
      ++i;
      while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i >= n || (text[i] != '"' && text[i] != '\'')) return "unquoted attribute in <" + name;
      const char quote = text[i++];
      const size_t end = text.find(quote, i);
      if (end == std::string::npos) return "unterminated attribute in <" + name;
      if (text.substr(i, end - i).find('<') != std::string::npos) return "'<' inside an attribute of <" + name;
      i = end + 1;
    }
    if (open.empty()) {
      if (++roots > 1) return "more than one root element";
    }
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  if (roots == 0) return "no root element";
  return "";
}

std::string svg_error(const std::string& path) {
  const std::string text = read_file(path);
  if (text.empty()) return path + " is missing or empty";
  if (std::string e = xml_error(text); !e.empty()) return path + " is not well-formed XML: " + e;
  if (text.find("<svg") == std::string::npos) return path + " has no <svg> element";
  return "";
}

}  // namespace graft::testing
