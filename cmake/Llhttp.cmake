# llhttp >= 9.2.1, linked statically.
#
# Debian 12's llhttp 8.1.0 (node-llhttp) accepts request-smuggling inputs: bare CR, obs-fold,
# empty header names and "\r\n\rX". Debian 13's libllhttp-dev 9.2.1 is installed by
# scripts/install-deps from a pinned trixie source. Its CMake config exports only
# llhttp::llhttp_shared; the static library lies beside it and is what we link.
set(GATEHOUSE_LLHTTP_MIN_VERSION 9.2.1)

find_path(LLHTTP_INCLUDE_DIR llhttp.h)
find_library(LLHTTP_STATIC_LIBRARY NAMES libllhttp.a)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_STATIC_LIBRARY)
  message(FATAL_ERROR
    "llhttp >= ${GATEHOUSE_LLHTTP_MIN_VERSION} (header and libllhttp.a) not found. "
    "Run scripts/install-deps (it installs libllhttp-dev from a pinned Debian 13 source).")
endif()

file(STRINGS ${LLHTTP_INCLUDE_DIR}/llhttp.h _llhttp_version_lines
     REGEX "^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
foreach(_part MAJOR MINOR PATCH)
  string(REGEX REPLACE ".*#define LLHTTP_VERSION_${_part} +([0-9]+).*" "\\1"
         _llhttp_${_part} "${_llhttp_version_lines}")
endforeach()
set(LLHTTP_VERSION "${_llhttp_MAJOR}.${_llhttp_MINOR}.${_llhttp_PATCH}")
if(LLHTTP_VERSION VERSION_LESS GATEHOUSE_LLHTTP_MIN_VERSION)
  message(FATAL_ERROR
    "llhttp ${LLHTTP_VERSION} found in ${LLHTTP_INCLUDE_DIR}, but gatehouse needs >= "
    "${GATEHOUSE_LLHTTP_MIN_VERSION}: older versions accept request-smuggling inputs (bare CR, "
    "obs-fold, empty header names). Debian 12's node-llhttp is 8.1.0; run scripts/install-deps "
    "to install libllhttp-dev 9.2.1 from a pinned Debian 13 source.")
endif()
message(STATUS "llhttp ${LLHTTP_VERSION}: ${LLHTTP_STATIC_LIBRARY}")

add_library(gatehouse::llhttp STATIC IMPORTED)
set_target_properties(gatehouse::llhttp PROPERTIES
  IMPORTED_LOCATION ${LLHTTP_STATIC_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LLHTTP_INCLUDE_DIR})
