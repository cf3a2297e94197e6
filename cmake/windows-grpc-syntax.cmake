# Keeps the code that only the MSVC + vcpkg build compiles (everything that needs gRPC, protobuf
# or OpenSSL) honest in the mingw-w64 cross-build, which has none of those libraries: each such
# file is compiled with -fsyntax-only for Windows against the build host's gRPC, protobuf, abseil
# and OpenSSL headers. Only those header trees are exposed (symlinked into one directory), never
# /usr/include whole, so a POSIX header (<arpa/inet.h>, <unistd.h>, ...) in Windows-built code is
# "No such file" here and fails the build step ctest runs (windows.cross_build).
#
# PW_WINDOWS_GRPC_SOURCES (windows-deps.cmake) is the list the MSVC build compiles on top of the
# mingw one; agent/src/windows and common/ take their gRPC sources from the same files.
set(PW_SYNTAX_DIR ${CMAKE_BINARY_DIR}/grpc-syntax)
set(PW_SYNTAX_HEADERS ${PW_SYNTAX_DIR}/include)
set(PW_SYNTAX_GEN ${PW_SYNTAX_DIR}/gen)
find_program(PW_HOST_PROTOC protoc NO_CMAKE_FIND_ROOT_PATH)
find_program(PW_HOST_GRPC_PLUGIN grpc_cpp_plugin NO_CMAKE_FIND_ROOT_PATH)
set(PW_HOST_INCLUDE /usr/include CACHE PATH "Where the build host's gRPC/protobuf/abseil headers are")
set(PW_HOST_ARCH_INCLUDE /usr/include/x86_64-linux-gnu CACHE PATH
    "The build host's multiarch include directory (OpenSSL's configuration headers)")

set(PW_SYNTAX_MISSING)
foreach(dir grpc grpcpp absl google/protobuf openssl)
  if(NOT EXISTS ${PW_HOST_INCLUDE}/${dir})
    list(APPEND PW_SYNTAX_MISSING ${dir})
  endif()
endforeach()
if(NOT PW_HOST_PROTOC OR NOT PW_HOST_GRPC_PLUGIN OR PW_SYNTAX_MISSING)
  message(FATAL_ERROR "portwatch: the Windows gRPC syntax check needs the build host's protoc, "
    "grpc_cpp_plugin and headers (missing: ${PW_SYNTAX_MISSING}); install them with "
    "scripts/install-deps.sh")
endif()

# One directory with only the library header trees. OpenSSL's configuration headers live in the
# multiarch directory on Debian; they are linked in beside the rest.
file(MAKE_DIRECTORY ${PW_SYNTAX_HEADERS}/openssl ${PW_SYNTAX_GEN})
foreach(dir grpc grpcpp absl google)
  file(CREATE_LINK ${PW_HOST_INCLUDE}/${dir} ${PW_SYNTAX_HEADERS}/${dir} SYMBOLIC)
endforeach()
file(GLOB PW_OPENSSL_HEADERS ${PW_HOST_INCLUDE}/openssl/*.h ${PW_HOST_ARCH_INCLUDE}/openssl/*.h)
foreach(h ${PW_OPENSSL_HEADERS})
  get_filename_component(name ${h} NAME)
  file(CREATE_LINK ${h} ${PW_SYNTAX_HEADERS}/openssl/${name} SYMBOLIC)
endforeach()

# The generated code, from the host's protoc (the same generator version as the headers).
set(PW_SYNTAX_PROTOS
  ${PROJECT_SOURCE_DIR}/proto/portwatch/v1/portwatch.proto
  ${PROJECT_SOURCE_DIR}/proto/portwatch/v1/query.proto)
set(PW_SYNTAX_GEN_SRCS)
foreach(name portwatch query)
  list(APPEND PW_SYNTAX_GEN_SRCS
    ${PW_SYNTAX_GEN}/portwatch/v1/${name}.pb.cc ${PW_SYNTAX_GEN}/portwatch/v1/${name}.grpc.pb.cc)
endforeach()
add_custom_command(
  OUTPUT ${PW_SYNTAX_GEN_SRCS}
  COMMAND ${PW_HOST_PROTOC} --proto_path=${PROJECT_SOURCE_DIR}/proto --cpp_out=${PW_SYNTAX_GEN}
    --grpc_out=${PW_SYNTAX_GEN} --plugin=protoc-gen-grpc=${PW_HOST_GRPC_PLUGIN}
    ${PW_SYNTAX_PROTOS}
  DEPENDS ${PW_SYNTAX_PROTOS}
  COMMENT "Generating protobuf/gRPC code for the Windows syntax check")

get_directory_property(PW_SYNTAX_DEFS COMPILE_DEFINITIONS)
set(PW_SYNTAX_FLAGS -std=gnu++17 -fsyntax-only -Wall -Wextra)
foreach(d ${PW_SYNTAX_DEFS})
  list(APPEND PW_SYNTAX_FLAGS -D${d})
endforeach()
list(APPEND PW_SYNTAX_FLAGS
  -I${PROJECT_SOURCE_DIR}/common/include -I${PROJECT_SOURCE_DIR}/agent
  -isystem ${PW_SYNTAX_HEADERS} -isystem ${PW_SYNTAX_GEN})
if(PW_HOST_HEADERS)
  list(APPEND PW_SYNTAX_FLAGS -isystem ${PW_HOST_HEADERS})  # CLI11, nlohmann (windows-deps)
endif()

set(PW_SYNTAX_STAMPS)
foreach(src ${PW_WINDOWS_GRPC_SOURCES} ${PW_SYNTAX_GEN_SRCS})
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${src})
  if(rel MATCHES "^\\.\\.")
    file(RELATIVE_PATH rel ${CMAKE_BINARY_DIR} ${src})
  endif()
  string(MAKE_C_IDENTIFIER ${rel} id)
  set(stamp ${PW_SYNTAX_DIR}/${id}.ok)
  set(dep ${PW_SYNTAX_DIR}/${id}.d)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_CXX_COMPILER} ${PW_SYNTAX_FLAGS} -MD -MF ${dep} -MT ${stamp} ${src}
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${src} ${PW_SYNTAX_GEN_SRCS}
    DEPFILE ${dep}
    COMMENT "Windows syntax check (MSVC-only source): ${rel}"
    VERBATIM)
  list(APPEND PW_SYNTAX_STAMPS ${stamp})
endforeach()
add_custom_target(windows_grpc_syntax ALL DEPENDS ${PW_SYNTAX_STAMPS})
