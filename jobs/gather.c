// gather.c: see gather.h.
#include "gather.h"

#include <stdlib.h>
#include <string.h>

int rowsplit_init(RowSplit *s, MPI_Comm comm, Err *e) {
  memset(s, 0, sizeof *s);
  s->comm = comm;
  s->size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &s->rank), MPI_Comm_size(comm, &s->size);
  int *mem = calloc(6 * (size_t)s->size, sizeof(int));
  if (!mem) return errf(e, ERR_RUNTIME, "out of memory for %d ranks", s->size);
  s->cnt_f = mem, s->cnt_r = mem + s->size, s->off_f = mem + 2 * s->size;
  s->off_r = mem + 3 * s->size, s->cnt_t = mem + 4 * s->size, s->off_t = mem + 5 * s->size;
  return 0;
}

void rowsplit_free(RowSplit *s) {
  free(s->cnt_f);
  memset(s, 0, sizeof *s);
}

void rowsplit_exchange(RowSplit *s, int nf, int nr) {
  s->nf = nf, s->nr = nr;
  if (s->size == 1) {
    s->cnt_f[0] = nf, s->cnt_r[0] = nr;
  } else {
    int mine[2] = {nf, nr}, *all = s->cnt_t;  // cnt_t and off_t are adjacent: 2*size ints
    MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, s->comm);
    for (int r = 0; r < s->size; r++) s->cnt_f[r] = all[2 * r], s->cnt_r[r] = all[2 * r + 1];
  }
  s->gf = s->gr = 0;
  for (int r = 0; r < s->size; r++) {
    s->off_f[r] = s->gf, s->gf += s->cnt_f[r];
    s->off_r[r] = s->gr, s->gr += s->cnt_r[r];
  }
}

// One part (forget or retain) of rows of D elements of type t.
static void gather_part(const RowSplit *s, const void *local, void *global, const int *cnt,
                        const int *off, int D, MPI_Datatype t) {
  RowSplit *w = (RowSplit *)s;  // the element-count scratch only
  for (int r = 0; r < s->size; r++) w->cnt_t[r] = cnt[r] * D, w->off_t[r] = off[r] * D;
  MPI_Allgatherv(local, cnt[s->rank] * D, t, global, w->cnt_t, w->off_t, t, s->comm);
}

void gather_rows(const RowSplit *s, const float *local, int D, float *global) {
  if (s->size == 1) {
    memcpy(global, local, (size_t)(s->nf + s->nr) * D * sizeof(float));
    return;
  }
  gather_part(s, local, global, s->cnt_f, s->off_f, D, MPI_FLOAT);
  gather_part(s, local + (size_t)s->nf * D, global + (size_t)s->gf * D, s->cnt_r, s->off_r, D,
              MPI_FLOAT);
}

void gather_forget_rows(const RowSplit *s, const float *local, int D, float *global) {
  if (s->size == 1)
    memcpy(global, local, (size_t)s->nf * D * sizeof(float));
  else
    gather_part(s, local, global, s->cnt_f, s->off_f, D, MPI_FLOAT);
}

void gather_labels(const RowSplit *s, const int32_t *local, int32_t *global) {
  if (s->size == 1) {
    memcpy(global, local, (size_t)(s->nf + s->nr) * sizeof(int32_t));
    return;
  }
  gather_part(s, local, global, s->cnt_f, s->off_f, 1, MPI_INT32_T);
  gather_part(s, local + s->nf, global + s->gf, s->cnt_r, s->off_r, 1, MPI_INT32_T);
}

void add_own_rows(const RowSplit *s, const float *global, int D, float *local) {
  const float *gf = global + (size_t)s->off_f[s->rank] * D;
  const float *gr = global + ((size_t)s->gf + s->off_r[s->rank]) * D;
  for (size_t t = 0; t < (size_t)s->nf * D; t++) local[t] += gf[t];
  float *lr = local + (size_t)s->nf * D;
  for (size_t t = 0; t < (size_t)s->nr * D; t++) lr[t] += gr[t];
}
