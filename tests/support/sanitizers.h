#pragma once
// GRAFT_ASAN is 1 in a build with AddressSanitizer, under GCC (__SANITIZE_ADDRESS__) and clang
// (__has_feature(address_sanitizer)) alike: tests that measure resident memory skip themselves there, since
// ASan's quarantine and shadow memory change what the process holds.
#if defined(__SANITIZE_ADDRESS__)
#define GRAFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRAFT_ASAN 1
#endif
#endif
#ifndef GRAFT_ASAN
#define GRAFT_ASAN 0
#endif
