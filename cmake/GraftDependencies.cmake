# Third-party dependencies, all from Debian packages (scripts/install-deps.sh installs them).
find_package(fmt REQUIRED)
find_package(OpenMP REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(PkgConfig REQUIRED)

# oneDNN: Debian's dnnl config exports DNNL::dnnl, which drags in OpenCL::OpenCL. graft only uses the
# CPU engine, so it links the library directly through an imported target of its own.
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
find_library(DNNL_LIBRARY dnnl REQUIRED)
add_library(graft_dnnl INTERFACE)
target_include_directories(graft_dnnl SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
target_link_libraries(graft_dnnl INTERFACE ${DNNL_LIBRARY})

# Graphviz's rendering library (libgvc + libcgraph), for graft::render_dot.
pkg_check_modules(GRAPHVIZ REQUIRED IMPORTED_TARGET libgvc libcgraph)
add_library(graft_graphviz INTERFACE)
target_link_libraries(graft_graphviz INTERFACE PkgConfig::GRAPHVIZ)
