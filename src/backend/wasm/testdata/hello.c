// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Test and benchmark module for the WASM backend (clang --target=wasm32-wasi).
// Prints "hello from wasm", then "argv[i]=..." for each argument and
// "env:K=V" for each variable; with --stdin, echoes stdin as "stdin:..." lines;
// writes "to stderr" on stderr; exits with the number after --exit (else 0).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char** environ;

int main(int argc, char** argv) {
  int code = 0;
  int echo_stdin = 0;
  printf("hello from wasm\n");
  for (int i = 0; i < argc; ++i) {
    printf("argv[%d]=%s\n", i, argv[i]);
    if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) code = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--stdin") == 0) echo_stdin = 1;
  }
  for (char** e = environ; *e != NULL; ++e) printf("env:%s\n", *e);
  if (echo_stdin) {
    char line[4096];
    while (fgets(line, sizeof line, stdin) != NULL) printf("stdin:%s", line);
  }
  fprintf(stderr, "to stderr\n");
  return code;
}
