// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Test and benchmark module for the WASM backend (clang --target=wasm32-wasi).
// argv[1] picks the mode:
//   read PATH        print "read:" + the file (exit 0) or "open-failed:" + strerror (exit 1)
//   write PATH TEXT  write TEXT to PATH (exit 0) or print "open-failed:..." (exit 1)
//   loop             spin forever
//   memhog           malloc 1 MiB blocks (touched) until malloc fails; print
//                    "allocated-mib:N" and exit 0
//   trap             execute an unreachable instruction
//   exit N           exit with N
//   fresh            print "calls:N fd:M": N counts runs in this instance's
//                    memory, M is the fd a new open gets (left open)
//   burn ITERS       CPU-bound: a 64-bit LCG over ITERS iterations plus fib(27)
//                    per million iterations; prints the checksum
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int Read(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    printf("open-failed:%s\n", strerror(errno));
    return 1;
  }
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  printf("read:%s", buf);
  return 0;
}

static int Write(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  if (f == NULL) {
    printf("open-failed:%s\n", strerror(errno));
    return 1;
  }
  fputs(text, f);
  return fclose(f) == 0 ? 0 : 1;
}

static int calls;

static __attribute__((noinline)) uint32_t Fib(uint32_t n) {
  return n < 2 ? n : Fib(n - 1) + Fib(n - 2);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "read") == 0 && argc > 2) return Read(argv[2]);
  if (strcmp(mode, "write") == 0 && argc > 3) return Write(argv[2], argv[3]);
  if (strcmp(mode, "loop") == 0) {
    volatile uint64_t x = 0;
    for (;;) x = x + 1;
  }
  if (strcmp(mode, "memhog") == 0) {
    // Kept reachable and read back, so the compiler cannot drop the
    // allocations (an unused malloc may be elided).
    static char* blocks[4096];
    size_t mib = 0;
    while (mib < sizeof blocks / sizeof blocks[0]) {
      char* p = malloc(1 << 20);
      if (p == NULL) break;
      memset(p, (int)mib, 1 << 20);
      blocks[mib++] = p;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < mib; ++i) sum += (unsigned char)blocks[i][i];
    if (sum == 12345) printf("unlikely\n");
    printf("allocated-mib:%zu\n", mib);
    return 0;
  }
  if (strcmp(mode, "trap") == 0) __builtin_trap();
  if (strcmp(mode, "fresh") == 0) {
    FILE* f = fopen("fresh.txt", "w");
    printf("calls:%d fd:%d\n", ++calls, f != NULL ? fileno(f) : -1);
    return 0;
  }
  if (strcmp(mode, "exit") == 0 && argc > 2) return atoi(argv[2]);
  if (strcmp(mode, "burn") == 0 && argc > 2) {
    uint64_t iters = strtoull(argv[2], NULL, 10);
    uint64_t x = 1;
    uint32_t f = 0;
    for (uint64_t i = 0; i < iters; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      if (i % 1000000 == 0) f += Fib(27);
    }
    printf("burn:%llu %u\n", (unsigned long long)x, f);
    return 0;
  }
  fprintf(stderr, "usage: guest read|write|loop|memhog|trap|exit|fresh|burn ...\n");
  return 2;
}
