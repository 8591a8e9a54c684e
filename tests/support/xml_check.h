#pragma once
// Checks on the XML and SVG files graft writes (curves, graph pictures), shared by the suites.
#include <string>

namespace graft::testing {

std::string read_file(const std::string& path);
// Empty when `text` is well-formed XML (one root element, balanced and properly nested tags, quoted
// attributes, known entities); otherwise what is wrong.
std::string xml_error(const std::string& text);
// Empty when `path` is an SVG file that parses as XML with an <svg> root; otherwise what is wrong.
std::string svg_error(const std::string& path);

}  // namespace graft::testing
