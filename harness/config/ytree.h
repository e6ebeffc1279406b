// ytree.h: YAML text -> a small tree of nodes that remember their line and column, so that
// every later complaint about a value can say where it is. libyaml does the parsing; this file
// only keeps what the config layer needs (scalars, sequences, mappings) and refuses the rest
// (aliases, tags, several documents, duplicate keys, tabs in indentation) with a clear message.
#pragma once

#include <stddef.h>

#include "err.h"

// A bump allocator: the tree, and every value parsed from it, live until arena_free.
typedef struct ArenaChunk ArenaChunk;
typedef struct {
  ArenaChunk *head;
} Arena;

// Zeroed memory, or NULL when out of memory.
void *arena_alloc(Arena *a, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
void arena_free(Arena *a);

typedef enum { YN_SCALAR, YN_SEQ, YN_MAP } YKind;

typedef struct YNode {
  YKind kind;
  int line, col;        // 1-based, of the node's first character
  const char *text;     // scalar: its value ("" when empty)
  int plain;            // scalar: written without quotes (only plain scalars are numbers/bools)
  int n;                // seq: number of items; map: number of key/value pairs
  struct YNode **item;  // seq: n items; map: 2n entries, each key (a scalar) then its value
} YNode;

// Parses text into *root (NULL for an empty document). Errors are "where:LINE:COL: message"
// (or "where: message" when with_pos is 0, as for a --set value) with code ERR_CONFIG.
int ytree_parse(YNode **root, Arena *a, const char *where, int with_pos, const char *text,
                size_t len, Err *e);

// A plain empty scalar, ~ or null: YAML's "nothing here".
int ynode_is_null(const YNode *n);
// "a mapping", "a list", "the string \"x\"", "5": what a node is, for messages.
const char *ynode_describe(const YNode *n, char *buf, size_t size);
