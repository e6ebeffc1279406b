// ytree.c: see ytree.h.
#include "ytree.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

// ---------------------------------------------------------------------------------------------
// arena

struct ArenaChunk {
  ArenaChunk *next;
  size_t used, cap;
  _Alignas(max_align_t) unsigned char data[];
};

void *arena_alloc(Arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  ArenaChunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->next = a->head;
    c->used = 0;
    c->cap = cap;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (p) memcpy(p, s, n);
  return p;
}

char *arena_strdup(Arena *a, const char *s) {
  return arena_strndup(a, s, strlen(s));
}

void arena_free(Arena *a) {
  while (a->head) {
    ArenaChunk *next = a->head->next;
    free(a->head);
    a->head = next;
  }
}

// ---------------------------------------------------------------------------------------------
// parsing

enum { MAX_DEPTH = 64 };

typedef struct {
  yaml_parser_t p;
  Arena *a;
  const char *where;
  int with_pos;
  Err *e;
} Ctx;

static int fail_at(Ctx *c, int line, int col, const char *msg) {
  if (c->with_pos) return errf(c->e, ERR_CONFIG, "%s:%d:%d: %s", c->where, line, col, msg);
  return errf(c->e, ERR_CONFIG, "%s: %s", c->where, msg);
}

static int yaml_fail(Ctx *c) {
  char msg[512];
  const yaml_parser_t *p = &c->p;
  if (p->context)
    snprintf(msg, sizeof msg, "invalid YAML: %s (%s at line %d, column %d)",
             p->problem ? p->problem : "syntax error", p->context, (int)p->context_mark.line + 1,
             (int)p->context_mark.column + 1);
  else
    snprintf(msg, sizeof msg, "invalid YAML: %s", p->problem ? p->problem : "syntax error");
  return fail_at(c, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, msg);
}

static int next_event(Ctx *c, yaml_event_t *ev) {
  if (!yaml_parser_parse(&c->p, ev)) return yaml_fail(c);
  return 0;
}

// A growable list of children, copied into the arena when complete.
typedef struct {
  YNode **v;
  int n, cap;
} Kids;

static int kids_push(Kids *k, YNode *n) {
  if (k->n == k->cap) {
    int cap = k->cap ? 2 * k->cap : 8;
    YNode **v = realloc(k->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    k->v = v;
    k->cap = cap;
  }
  k->v[k->n++] = n;
  return 0;
}

static int oom(Ctx *c) {
  return errf(c->e, ERR_RUNTIME, "%s: out of memory", c->where);
}

static int build(Ctx *c, yaml_event_t *ev, YNode **out, int depth);

// Reads children until the matching end event; a mapping's keys must be distinct scalars.
static int build_children(Ctx *c, YNode *n, yaml_event_type_t end, int depth) {
  Kids k = {0};
  int rc = 0;
  for (;;) {
    yaml_event_t ev;
    if ((rc = next_event(c, &ev))) break;
    if (ev.type == end) {
      yaml_event_delete(&ev);
      break;
    }
    YNode *child;
    if ((rc = build(c, &ev, &child, depth + 1))) break;
    if (n->kind == YN_MAP && k.n % 2 == 0) {
      if (child->kind != YN_SCALAR) {
        rc = fail_at(c, child->line, child->col,
                     "a key must be a plain name, not a list or mapping");
        break;
      }
      for (int i = 0; i < k.n; i += 2)
        if (!strcmp(k.v[i]->text, child->text)) {
          char msg[512];
          snprintf(msg, sizeof msg, "duplicate key '%.200s' (first set at line %d, column %d)",
                   child->text, k.v[i]->line, k.v[i]->col);
          rc = fail_at(c, child->line, child->col, msg);
          break;
        }
      if (rc) break;
    }
    if (kids_push(&k, child)) {
      rc = oom(c);
      break;
    }
  }
  if (!rc) {
    n->n = n->kind == YN_MAP ? k.n / 2 : k.n;
    n->item = arena_alloc(c->a, (size_t)(k.n ? k.n : 1) * sizeof *n->item);
    if (!n->item)
      rc = oom(c);
    else if (k.n)
      memcpy(n->item, k.v, (size_t)k.n * sizeof *k.v);
  }
  free(k.v);
  return rc;
}

// Builds the node that starts with ev (which this function deletes).
static int build(Ctx *c, yaml_event_t *ev, YNode **out, int depth) {
  YNode *n = arena_alloc(c->a, sizeof *n);
  if (!n) {
    yaml_event_delete(ev);
    return oom(c);
  }
  n->line = (int)ev->start_mark.line + 1;
  n->col = (int)ev->start_mark.column + 1;
  *out = n;
  const yaml_char_t *tag = NULL;
  int rc = 0;
  if (depth > MAX_DEPTH)
    rc = fail_at(c, n->line, n->col, "nested too deeply");
  else if (ev->type == YAML_ALIAS_EVENT)
    rc = fail_at(c, n->line, n->col, "aliases (*name) are not supported; write the value out");
  else if (ev->type == YAML_SCALAR_EVENT) {
    tag = ev->data.scalar.tag;
    n->kind = YN_SCALAR;
    n->text = arena_strndup(c->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!n->text)
      rc = oom(c);
    else if (strlen(n->text) != ev->data.scalar.length)
      rc = fail_at(c, n->line, n->col, "a value contains a NUL character");
  } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
    tag = ev->data.sequence_start.tag;
    n->kind = YN_SEQ;
  } else if (ev->type == YAML_MAPPING_START_EVENT) {
    tag = ev->data.mapping_start.tag;
    n->kind = YN_MAP;
  } else
    rc = fail_at(c, n->line, n->col, "unexpected YAML event");
  // The only tag worth honouring is !!str, which makes "3" a string; others are refused.
  if (!rc && tag) {
    if (n->kind == YN_SCALAR && !strcmp((const char *)tag, "tag:yaml.org,2002:str"))
      n->plain = 0;
    else
      rc = fail_at(c, n->line, n->col, "YAML tags (!name) are not supported");
  }
  yaml_event_type_t type = ev->type;
  yaml_event_delete(ev);
  if (rc) return rc;
  if (type == YAML_SEQUENCE_START_EVENT)
    return build_children(c, n, YAML_SEQUENCE_END_EVENT, depth);
  if (type == YAML_MAPPING_START_EVENT) return build_children(c, n, YAML_MAPPING_END_EVENT, depth);
  return 0;
}

// libyaml's message for a tab in indentation is cryptic ("found character that cannot start any
// token"), so look for one first and say what it is.
static int check_tabs(Ctx *c, const char *text, size_t len) {
  int line = 1;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && (text[j] == ' ' || text[j] == '\t')) {
      if (text[j] == '\t') {
        size_t k = j;
        while (k < len && (text[k] == ' ' || text[k] == '\t')) k++;
        if (k < len && text[k] != '\n' && text[k] != '\r')
          return fail_at(c, line, (int)(j - i) + 1,
                         "tab character in indentation; YAML indents with spaces only");
        break;
      }
      j++;
    }
    while (i < len && text[i] != '\n') i++;
    i++;
    line++;
  }
  return 0;
}

int ytree_parse(YNode **root, Arena *a, const char *where, int with_pos, const char *text,
                size_t len, Err *e) {
  Ctx c = {.a = a, .where = where, .with_pos = with_pos, .e = e};
  *root = NULL;
  int rc = check_tabs(&c, text, len);
  if (rc) return rc;
  if (!yaml_parser_initialize(&c.p)) return oom(&c);
  yaml_parser_set_input_string(&c.p, (const unsigned char *)text, len);
  yaml_event_t ev;
  int docs = 0;
  while (!(rc = next_event(&c, &ev))) {
    yaml_event_type_t type = ev.type;
    int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
    yaml_event_delete(&ev);
    if (type == YAML_STREAM_END_EVENT) break;
    if (type != YAML_DOCUMENT_START_EVENT) continue;
    if (++docs > 1) {
      rc = fail_at(&c, line, col, "only one YAML document (---) is allowed in a config");
      break;
    }
    if ((rc = next_event(&c, &ev))) break;
    if ((rc = build(&c, &ev, root, 0))) break;
    if ((rc = next_event(&c, &ev))) break;  // document end
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&c.p);
  if (!rc && *root && ynode_is_null(*root)) *root = NULL;
  return rc;
}

int ynode_is_null(const YNode *n) {
  if (!n || n->kind != YN_SCALAR || !n->plain) return 0;
  const char *t = n->text;
  return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

const char *ynode_describe(const YNode *n, char *buf, size_t size) {
  if (!n || ynode_is_null(n))
    snprintf(buf, size, "nothing");
  else if (n->kind == YN_SEQ)
    snprintf(buf, size, "a list");
  else if (n->kind == YN_MAP)
    snprintf(buf, size, "a mapping");
  else if (n->plain)
    snprintf(buf, size, "'%.100s'", n->text);
  else
    snprintf(buf, size, "the quoted string \"%.100s\"", n->text);
  return buf;
}
