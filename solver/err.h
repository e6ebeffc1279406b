// err.h: how library code reports failure. A function that can fail returns an int
// (0 on success, else an ERR_* code) and fills an Err with a message that says where
// and why. Only the command line prints messages and chooses exit codes.
#pragma once

enum {
  ERR_OK = 0,
  ERR_RUNTIME = 1,  // I/O, corrupt data, numerical failure
  ERR_CONFIG = 2,   // bad config, bad flag, bad user input
};

typedef struct {
  int code;
  char msg[1024];
} Err;

// Sets e (if not NULL) to code and a printf-style message; returns code.
int errf(Err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Prepends "prefix: " to e's message (for adding context on the way up); returns e->code.
int err_context(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
