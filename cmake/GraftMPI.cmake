# ZeRO's MPI back end (optim/zero/mpi/): the library graft_mpi, built when CMake finds MPI (Debian:
# libopenmpi-dev). graft itself never links MPI.
find_package(MPI COMPONENTS CXX)
if(MPI_CXX_FOUND)
  add_library(graft_mpi SHARED ${CMAKE_SOURCE_DIR}/optim/zero/mpi/mpi_communicator.cpp
                               ${CMAKE_SOURCE_DIR}/optim/zero/mpi/mpi_trace.cpp)
  add_library(graft::mpi ALIAS graft_mpi)
  target_link_libraries(graft_mpi PUBLIC graft MPI::MPI_CXX PRIVATE nlohmann_json::nlohmann_json)
  target_compile_options(graft_mpi PRIVATE ${GRAFT_WARNINGS} ${GRAFT_ARCH_FLAGS})
  # Exported as graft::mpi (find_package(graft COMPONENTS mpi)).
  set_target_properties(graft_mpi PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 0 EXPORT_NAME mpi)
else()
  message(STATUS "graft: MPI not found; the MPI back end of ZeRO (graft_mpi) and its tests are not built")
endif()
