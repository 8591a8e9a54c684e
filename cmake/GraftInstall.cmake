# `cmake --install` puts the public headers under include/graft/, the libraries, a CMake package (a consumer
# does `find_package(graft [COMPONENTS mpi])` and links `graft::graft` [and `graft::mpi`]) and pkg-config files
# (graft.pc, graft-mpi.pc). Headers under detail/ and kernels/ are internal: no public header includes them
# (tests/architecture checks it), and they are not installed.
include(CMakePackageConfigHelpers)

set(GRAFT_PUBLIC_HEADERS ${GRAFT_HEADERS})
list(FILTER GRAFT_PUBLIC_HEADERS EXCLUDE REGEX "/(detail|kernels)/")
foreach(header ${GRAFT_PUBLIC_HEADERS})
  file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${header})
  get_filename_component(rel_dir ${rel} DIRECTORY)
  install(FILES ${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/graft/${rel_dir})
endforeach()

install(TARGETS graft EXPORT graftTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# oneDNN, Graphviz, zlib and nlohmann_json are private to the shared library (no installed header includes
# them), so the exported graft::graft carries only its public dependencies, fmt and OpenMP, and the
# package config looks up just those two.
install(EXPORT graftTargets NAMESPACE graft:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/graftConfig.cmake.in
  ${CMAKE_BINARY_DIR}/graftConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/graftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/graftConfig.cmake ${CMAKE_BINARY_DIR}/graftConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)

configure_file(${CMAKE_SOURCE_DIR}/cmake/graft.pc.in ${CMAKE_BINARY_DIR}/graft.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/graft.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(TARGET graft_mpi)
  install(TARGETS graft_mpi EXPORT graftMpiTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${CMAKE_SOURCE_DIR}/optim/zero/mpi/mpi_communicator.h ${CMAKE_SOURCE_DIR}/optim/zero/mpi/mpi_trace.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/graft/optim/zero/mpi)
  install(EXPORT graftMpiTargets NAMESPACE graft:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/graft-mpi.pc.in ${CMAKE_BINARY_DIR}/graft-mpi.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/graft-mpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
