// dist.c: see dist.h.
#include "dist.h"

#include "clock.h"

static int comm_size(MPI_Comm c) {
  int n = 1;
  if (c != MPI_COMM_NULL) MPI_Comm_size(c, &n);
  return n;
}

void dist_share(int B, int rank, int size, int *offset, int *count) {
  int base = B / size, extra = B % size;
  *count = base + (rank < extra);
  *offset = rank * base + (rank < extra ? rank : extra);
}

void dist_broadcast_model(Model *m) {
  if (comm_size(m->comm) == 1) return;
  MPI_Bcast(m->param_mem, (int)m->n_param_floats, MPI_FLOAT, 0, m->comm);
  if (m->n_buffer_floats) MPI_Bcast(m->buffer_mem, (int)m->n_buffer_floats, MPI_FLOAT, 0, m->comm);
}

// With a profile: the time waiting at a barrier for the slowest rank, from t0 on.
static double wait_for_slowest(Model *m, double t0) {
  MPI_Barrier(m->comm);
  m->prof->grad_wait += clock_now() - t0;
  return clock_now();
}

void dist_allreduce_grads(Model *m) {
  if (comm_size(m->comm) == 1) return;
  double t = m->prof ? wait_for_slowest(m, clock_now()) : 0;
  MPI_Allreduce(MPI_IN_PLACE, m->grad_mem, (int)m->n_param_floats, MPI_FLOAT, MPI_SUM, m->comm);
  if (m->prof) m->prof->grad_sync += clock_now() - t, m->prof->grad_msgs++;
}

// ---------------------------------------------------------------------------------------------
// the gradient sum overlapping the backward

#define DIST_MAX_BUCKETS 1024

// Buckets [lo, hi) of the gradient arena, from its end to its start; bucket k's gradients are
// final once the backward has done op ready[k] (every op from the last down to it).
typedef struct {
  Model *m;
  int n, started, done;  // buckets; started in order; known complete (a prefix)
  int64_t lo[DIST_MAX_BUCKETS], hi[DIST_MAX_BUCKETS];
  int ready[DIST_MAX_BUCKETS];
  MPI_Request req[DIST_MAX_BUCKETS];
} Buckets;

// Parameters take arena offsets in the order they are added (model.h), so walking them from
// the last gives contiguous ranges from the arena's end. The first bucket ends at the arena's
// end and the last starts at 0, so every float is summed once.
static void buckets_plan(Buckets *b, Model *m) {
  int first_op[MODEL_MAX_PARAMS];  // the first op (in forward order) that uses the param
  for (int p = 0; p < m->n_params; p++) first_op[p] = 0;  // unused: final only at the end
  for (int i = m->n_ops - 1; i >= 0; i--) {
    const Op *op = &m->ops[i];
    const int used[5] = {op->w, op->b, op->w2, op->b2, op->tab};  // (rm, rv: buffers)
    for (int k = 0; k < 5; k++)
      if (used[k] >= 0) first_op[used[k]] = i;
  }
  // Buckets closed by size number fewer than DIST_MAX_BUCKETS - 2, leaving room for the last
  // two (at parameter 0, and the arena's start).
  int64_t size = m->bucket_floats, least = m->n_param_floats / (DIST_MAX_BUCKETS - 2) + 1;
  if (size < least) size = least;
  b->m = m, b->n = b->started = b->done = 0;
  int64_t hi = m->n_param_floats;
  int ready = m->n_ops;
  for (int p = m->n_params - 1; p >= 0; p--) {
    const ParamInfo *pi = &m->params[p];
    if (pi->is_buffer) continue;
    if (first_op[p] < ready) ready = first_op[p];
    if (hi - pi->offset >= size || p == 0) {
      b->lo[b->n] = pi->offset, b->hi[b->n] = hi, b->ready[b->n] = ready;
      b->n++, hi = pi->offset, ready = m->n_ops;
    }
  }
  if (b->n == 0 || hi > 0) {  // parameter 0 is a buffer: the rest is one more bucket
    b->lo[b->n] = 0, b->hi[b->n] = hi, b->ready[b->n] = ready < m->n_ops ? ready : 0;
    b->n++;
  }
}

static void bucket_start(Buckets *b) {
  Model *m = b->m;
  int k = b->started++;
  MPI_Iallreduce(MPI_IN_PLACE, m->grad_mem + b->lo[k], (int)(b->hi[k] - b->lo[k]), MPI_FLOAT,
                 MPI_SUM, m->comm, &b->req[k]);
  if (m->prof) m->prof->grad_msgs++;
}

// After op's backward: starts the buckets now final (in order, the same on every rank), then
// lets MPI progress the ones under way (Open MPI moves non-blocking collectives only inside
// MPI calls).
static void buckets_after_op(void *ctx, int op) {
  Buckets *b = ctx;
  double t0 = b->m->prof ? clock_now() : 0;
  while (b->started < b->n && b->ready[b->started] >= op) bucket_start(b);
  while (b->done < b->started) {
    int flag = 0;
    MPI_Test(&b->req[b->done], &flag, MPI_STATUS_IGNORE);
    if (!flag) break;
    b->done++;
  }
  if (b->m->prof) b->m->prof->grad_overlap += clock_now() - t0;
}

void dist_backward(Model *m, const float *dlogits, const float *const *dpoints) {
  if (comm_size(m->comm) == 1 || m->bucket_floats <= 0) {
    model_backward(m, dlogits, dpoints, NULL);
    dist_allreduce_grads(m);
    return;
  }
  Buckets b;
  buckets_plan(&b, m);
  model_backward_each(m, dlogits, dpoints, NULL, buckets_after_op, &b);
  double t = m->prof ? wait_for_slowest(m, clock_now()) : 0;
  while (b.started < b.n) bucket_start(&b);
  MPI_Waitall(b.started - b.done, b.req + b.done, MPI_STATUSES_IGNORE);
  if (m->prof) m->prof->grad_sync += clock_now() - t;
}

void dist_average_buffers(Model *m) {
  int n = comm_size(m->comm);
  if (n == 1 || !m->n_buffer_floats) return;
  MPI_Allreduce(MPI_IN_PLACE, m->buffer_mem, (int)m->n_buffer_floats, MPI_FLOAT, MPI_SUM, m->comm);
  for (int64_t i = 0; i < m->n_buffer_floats; i++) m->buffer_mem[i] /= (float)n;
}

double dist_sum(MPI_Comm comm, double x) {
  if (comm_size(comm) > 1) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, comm);
  return x;
}
