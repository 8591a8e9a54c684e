# Third-party dependencies, all from Debian packages (scripts/install-deps.sh installs them).
find_package(fmt REQUIRED)
# oneDNN runs on GNU OpenMP, and graft's own parallel loops must share its thread pool. GCC builds use
# libgomp. clang compiles no `#pragma omp` for libgomp (-fopenmp=libgomp only links it), so clang builds
# (the sanitizer and fuzz trees) use LLVM's libomp, which also implements libgomp's ABI (GOMP_*, versioned as
# libgomp's): linked directly, it comes before the libgomp that oneDNN and OpenBLAS load, so their parallel
# regions run on libomp too -- still one pool (tests/graph/threads_test.cpp checks which runtime answers).
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

# OpenBLAS for float64 products (oneDNN has no float64 GEMM). Debian's OpenMP build, found by its own
# directory so that neither the pthreads build nor the reference BLAS behind libblas.so is picked: its threads
# are GNU OpenMP's, the pool oneDNN and graft's loops share, and it follows the thread count graft sets.
find_path(OPENBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
          NO_DEFAULT_PATH REQUIRED)
find_library(OPENBLAS_LIBRARY openblas PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
             NO_DEFAULT_PATH REQUIRED)
add_library(graft_openblas INTERFACE)
target_include_directories(graft_openblas SYSTEM INTERFACE ${OPENBLAS_INCLUDE_DIR})
target_link_libraries(graft_openblas INTERFACE ${OPENBLAS_LIBRARY})
