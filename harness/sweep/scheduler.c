// scheduler.c: see scheduler.h.
#include "scheduler.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

enum { TAG_REQUEST = 101, TAG_REPLY = 102, TAG_TRACE = 103 };
enum { REPLY_STOP = -1, REPLY_WAIT = -2 };
typedef enum { ITEM_TODO, ITEM_RUNNING, ITEM_DONE, ITEM_FAILED } ItemState;

// What a group's first rank tells the coordinator when it asks for the next item. The row's
// trace (row.n_trace entries) follows in messages of its own (TAG_TRACE, TRACE_CHUNK entries
// each); the pointer in the row is the sender's and is replaced by the receiver's copy.
typedef struct {
  int finished;  // the item it just finished, or -1
  int status;    // 0 ok, else failed
  int has_row;
  ResultRow row;
} Report;

enum { TRACE_CHUNK = 256 };

static int has_trace(const Report *rep) {
  return rep->finished >= 0 && rep->has_row && rep->row.n_trace > 0;
}

static void send_report(const Report *rep, int dest, MPI_Comm comm) {
  MPI_Send(rep, sizeof *rep, MPI_BYTE, dest, TAG_REQUEST, comm);
  for (int i = 0; has_trace(rep) && i < rep->row.n_trace; i += TRACE_CHUNK) {
    int n = rep->row.n_trace - i < TRACE_CHUNK ? rep->row.n_trace - i : TRACE_CHUNK;
    MPI_Send(rep->row.trace + i, n * (int)sizeof(ResultTrace), MPI_BYTE, dest, TAG_TRACE, comm);
  }
}

// Receives a report from src (already probed) and its trace into *buf (grown as needed). If the
// buffer cannot grow, the trace's messages are still received, into a chunk that is dropped:
// the row is recorded without its trace.
static void recv_report(Report *rep, ResultTrace **buf, int *cap, int src, MPI_Comm comm) {
  MPI_Recv(rep, sizeof *rep, MPI_BYTE, src, TAG_REQUEST, comm, MPI_STATUS_IGNORE);
  if (!has_trace(rep)) {
    rep->row.n_trace = 0, rep->row.trace = NULL;
    return;
  }
  const int n = rep->row.n_trace;
  if (n > *cap) {
    ResultTrace *grown = realloc(*buf, (size_t)n * sizeof **buf);
    if (grown) *buf = grown, *cap = n;
  }
  static_assert(sizeof(ResultTrace) * TRACE_CHUNK < 256 * 1024, "a chunk fits the stack");
  ResultTrace drop[TRACE_CHUNK];
  for (int i = 0; i < n; i += TRACE_CHUNK) {
    int k = n - i < TRACE_CHUNK ? n - i : TRACE_CHUNK;
    MPI_Recv(n <= *cap ? *buf + i : drop, k * (int)sizeof(ResultTrace), MPI_BYTE, src, TAG_TRACE,
             comm, MPI_STATUS_IGNORE);
  }
  rep->row.trace = n <= *cap ? *buf : NULL;
  if (!rep->row.trace) rep->row.n_trace = 0;
}

// The coordinator's state; lives on world rank 0 only.
typedef struct {
  const Sched *s;
  ItemState *state;
  int n_done, n_total;
  int any_failed, stopped;
} Coord;

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static void lock(const Sched *s) {
  if (s->io_lock) pthread_mutex_lock(s->io_lock);
}

static void unlock(const Sched *s) {
  if (s->io_lock) pthread_mutex_unlock(s->io_lock);
}

// Marks item finished (so that its dependents may go) ...
static void mark(Coord *c, int item, int status) {
  c->state[item] = status == 0 ? ITEM_DONE : ITEM_FAILED;
  c->any_failed |= status != 0;
  c->n_done++;
}

// ... and records it (the done callback writes the results file: slow, so after the reply).
static void record(Coord *c, int item, int status, const ResultRow *row, bool has_row) {
  lock(c->s);
  c->s->done(c->s->ctx, item, status, row, has_row, c->n_done, c->n_total);
  unlock(c->s);
}

// The next item whose dependencies are all done; items behind a failed dependency fail
// without running. REPLY_WAIT when items are left but none is ready, REPLY_STOP when none is
// left (or the sweep is stopping).
static int pick(Coord *c) {
  const Sched *s = c->s;
  if (!c->stopped && s->stop && s->stop(s->ctx)) c->stopped = 1;
  if (c->stopped) return REPLY_STOP;
  int busy = 0;
  for (int i = 0; i < s->n_items; i++) {
    if (c->state[i] == ITEM_RUNNING) busy = 1;
    if (c->state[i] != ITEM_TODO) continue;
    int ready = 1, failed_dep = -1;
    for (int d = 0; d < s->items[i].n_deps; d++) {
      ItemState ds = c->state[s->items[i].deps[d]];
      if (ds == ITEM_FAILED) failed_dep = s->items[i].deps[d];
      if (ds != ITEM_DONE) ready = 0;
    }
    if (failed_dep >= 0) {
      ResultRow row;
      results_row_init(&row);
      bool has_row = s->skip(s->ctx, i, failed_dep, &row);
      mark(c, i, 1);
      record(c, i, 1, &row, has_row);
      i = -1;  // a failure may unblock nothing but can fail more: look again from the start
      busy = 0;
      continue;
    }
    if (ready) {
      c->state[i] = ITEM_RUNNING;
      return i;
    }
    busy = 1;
  }
  return busy ? REPLY_WAIT : REPLY_STOP;
}

// Serves the group leaders until each has been told to stop.
static void serve(Coord *c, MPI_Comm comm, int n_groups) {
  int stopped = 0;
  Report *rep = malloc(sizeof *rep);
  ResultTrace *trace = NULL;
  int trace_cap = 0;
  while (stopped < n_groups) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, comm, &flag, &st);
    if (!flag) {
      sleep_ms(1);  // a blocking receive would spin a core in Open MPI
      continue;
    }
    recv_report(rep, &trace, &trace_cap, st.MPI_SOURCE, comm);
    if (rep->finished >= 0) mark(c, rep->finished, rep->status);
    int next = pick(c);
    MPI_Send(&next, 1, MPI_INT, st.MPI_SOURCE, TAG_REPLY, comm);
    if (rep->finished >= 0) record(c, rep->finished, rep->status, &rep->row, rep->has_row);
    stopped += next == REPLY_STOP;
  }
  free(rep);
  free(trace);
}

typedef struct {
  Coord *c;
  MPI_Comm comm;
  int n_groups;
} ServeArgs;

static void *serve_thread(void *p) {
  ServeArgs *a = p;
  serve(a->c, a->comm, a->n_groups);
  return NULL;
}

// A group's loop: ask for an item, run it on the whole group, report it, until told to stop.
static void work(const Sched *s, MPI_Comm coord, MPI_Comm group, Coord *inline_coord,
                 SchedStats *st) {
  int grank;
  MPI_Comm_rank(group, &grank);
  Report *rep = calloc(1, sizeof *rep);
  rep->finished = -1;
  for (;;) {
    int next;
    double t0 = clock_now();
    if (grank == 0) {
      if (inline_coord) {  // the only group: no messages, the coordinator is right here
        if (rep->finished >= 0) {
          mark(inline_coord, rep->finished, rep->status);
          record(inline_coord, rep->finished, rep->status, &rep->row, rep->has_row);
        }
        next = pick(inline_coord);
      } else {
        send_report(rep, 0, coord);
        MPI_Recv(&next, 1, MPI_INT, 0, TAG_REPLY, coord, MPI_STATUS_IGNORE);
      }
    }
    MPI_Bcast(&next, 1, MPI_INT, 0, group);
    if (grank == 0) st->dispatch_s += clock_now() - t0;
    if (next == REPLY_STOP) break;
    rep->finished = -1;
    if (next == REPLY_WAIT) {
      double t1 = clock_now();
      sleep_ms(50);
      if (grank == 0) st->idle_s += clock_now() - t1;
      continue;
    }
    results_row_init(&rep->row);
    bool has_row = false;
    rep->status = s->run(s->ctx, next, group, &rep->row, &has_row);
    rep->has_row = has_row;
    rep->finished = next;
  }
  free(rep);
}

int sched_run(const Sched *s, SchedStats *stats, Err *e) {
  int rank, world, provided;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Query_thread(&provided);
  const int rpr = s->ranks_per_run > 0 ? s->ranks_per_run : 1;
  if (world % rpr)
    return errf(e, ERR_CONFIG, "sweep.ranks_per_run = %d does not divide the %d MPI ranks", rpr,
                world);
  int n_groups = world / rpr;
  // Without thread support, rank 0's group coordinates instead of computing.
  int dedicated = n_groups > 1 && provided < MPI_THREAD_MULTIPLE;
  if (dedicated && n_groups < 2)
    return errf(e, ERR_CONFIG, "no MPI_THREAD_MULTIPLE: need at least 2 groups of ranks");

  MPI_Comm coord, group;
  MPI_Comm_dup(MPI_COMM_WORLD, &coord);
  MPI_Comm_split(MPI_COMM_WORLD, rank / rpr, rank, &group);

  Coord c = {.s = s, .n_total = s->n_items};
  SchedStats mine = {0, 0};
  if (rank == 0) {
    c.state = calloc((size_t)(s->n_items ? s->n_items : 1), sizeof(ItemState));
    for (int i = 0; i < s->n_items; i++)
      if (s->already_done && s->already_done[i]) c.state[i] = ITEM_DONE, c.n_done++;
  }
  if (n_groups == 1) {
    work(s, coord, group, rank == 0 ? &c : NULL, &mine);
  } else if (dedicated) {
    if (rank / rpr == 0) {
      if (rank == 0) serve(&c, coord, n_groups - 1);
    } else {
      work(s, coord, group, NULL, &mine);
    }
  } else {
    pthread_t th;
    ServeArgs args = {&c, coord, n_groups};
    if (rank == 0) pthread_create(&th, NULL, serve_thread, &args);
    work(s, coord, group, NULL, &mine);
    if (rank == 0) pthread_join(th, NULL);
  }
  int rc = 0;
  if (rank == 0) rc = c.stopped ? 4 : c.any_failed ? 3 : 0;
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  SchedStats sum = {0, 0};
  MPI_Reduce(&mine, &sum, 2, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (stats) *stats = sum;
  free(c.state);
  MPI_Comm_free(&group);
  MPI_Comm_free(&coord);
  return rc;
}
