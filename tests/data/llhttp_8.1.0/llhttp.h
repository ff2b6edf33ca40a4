/* The version lines of Debian 12's llhttp 8.1.0 header (node-llhttp), for the CMake check. */
#ifndef INCLUDE_LLHTTP_H_
#define INCLUDE_LLHTTP_H_

#define LLHTTP_VERSION_MAJOR 8
#define LLHTTP_VERSION_MINOR 1
#define LLHTTP_VERSION_PATCH 0

#endif
