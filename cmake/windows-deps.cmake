# Dependencies of a Windows build. With MSVC + vcpkg (vcpkg.json, CMakePresets.json) gRPC,
# protobuf and OpenSSL are found and the agent can stream to a collector. The mingw-w64
# cross-build has none of them: it builds the probes, summary, snapshot, service plumbing and
# tests, with a report sink that writes JSON to a file.
# windows.h must not define min/max macros over std::min / std::max.
add_compile_definitions(NOMINMAX)
if(MSVC)
  # Link the static CRT like the vcpkg x64-windows-static triplet, so the .exe stands alone.
  set(CMAKE_MSVC_RUNTIME_LIBRARY "MultiThreaded$<$<CONFIG:Debug>:Debug>")
endif()
find_package(Threads REQUIRED)

# What a build with gRPC compiles on top of the mingw one. The mingw cross-build syntax-checks
# exactly these (cmake/windows-grpc-syntax.cmake); agent/src/windows builds the agent's part.
set(PW_WINDOWS_GRPC_AGENT_SOURCES
  ${PROJECT_SOURCE_DIR}/agent/src/transport.cc
  ${PROJECT_SOURCE_DIR}/agent/src/report_sink_grpc.cc)
set(PW_WINDOWS_GRPC_SOURCES
  ${PROJECT_SOURCE_DIR}/common/src/wire.cc  # portwatch_wire (common/CMakeLists.txt)
  ${PROJECT_SOURCE_DIR}/common/src/tls.cc   # portwatch_tls
  ${PROJECT_SOURCE_DIR}/common/src/revocation.cc
  ${PW_WINDOWS_GRPC_AGENT_SOURCES})
find_package(gRPC CONFIG QUIET)
if(gRPC_FOUND)
  find_package(OpenSSL REQUIRED)
  # Module mode, as on Linux: proto/ uses Protobuf_PROTOC_EXECUTABLE, which only it sets.
  find_package(Protobuf REQUIRED)
  set(PORTWATCH_HAVE_GRPC ON)
else()
  set(PORTWATCH_HAVE_GRPC OFF)
  message(STATUS "portwatch: no gRPC for this Windows build: the agent writes reports to a file")
endif()

# Header-only libraries: from the toolchain's find root, else (cross-build) copied from the
# build host's /usr/include, which cannot be added to the include path whole (its C headers are
# glibc's).
find_path(PW_NLOHMANN_DIR nlohmann/json.hpp)
find_path(PW_CLI11_DIR CLI/CLI.hpp)
if(PW_NLOHMANN_DIR AND PW_CLI11_DIR)
  include_directories(SYSTEM ${PW_NLOHMANN_DIR} ${PW_CLI11_DIR})
else()
  set(PW_HOST_HEADERS ${CMAKE_BINARY_DIR}/host-headers)
  foreach(dir nlohmann CLI)
    if(NOT EXISTS ${PW_HOST_HEADERS}/${dir} AND EXISTS /usr/include/${dir})
      file(COPY /usr/include/${dir} DESTINATION ${PW_HOST_HEADERS})
    endif()
  endforeach()
  include_directories(SYSTEM ${PW_HOST_HEADERS})
endif()

if(PORTWATCH_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    # Debian ships googletest's sources; build them with this toolchain.
    set(PORTWATCH_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "googletest sources")
    set(gtest_force_shared_crt ON CACHE BOOL "" FORCE)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory(${PORTWATCH_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
    # googletest's own CMake defines the GTest:: aliases from 1.11 on.
    if(NOT TARGET GTest::gtest_main)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
  endif()
endif()
