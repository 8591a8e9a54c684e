# `cmake --install` puts the headers under include/graft/, the library, and a CMake package so that a
# consumer can `find_package(graft)` and link `graft::graft`.
include(CMakePackageConfigHelpers)

foreach(header ${GRAFT_HEADERS})
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
