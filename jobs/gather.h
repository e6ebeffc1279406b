// gather.h: the rows of a data-parallel global batch, gathered on every rank.
//
// Each rank holds its local batch as [forget rows; retain rows]. The global batch is the forget
// rows of rank 0, 1, ... followed by the retain rows of rank 0, 1, ...: the same order as on one
// rank, since ranks hold consecutive slices (dist_share). Losses that couple samples (the
// contrastive ones) are computed on the gathered batch, identically on every rank; each rank then
// backpropagates the gradient rows of its own samples, and the usual allreduce of the gradient
// arenas completes the sum.
#pragma once

#include <mpi.h>
#include <stdint.h>

#include "err.h"

typedef struct {
  MPI_Comm comm;
  int rank, size;
  int *cnt_f, *cnt_r, *off_f, *off_r;  // [size] rows per rank and their offsets in each part
  int *cnt_t, *off_t;                  // [size] scratch for element counts
  int nf, nr;                          // this rank's rows
  int gf, gr;                          // global forget and retain rows
} RowSplit;

int rowsplit_init(RowSplit *s, MPI_Comm comm, Err *e);
void rowsplit_free(RowSplit *s);
// Exchanges every rank's (nf, nr): one small allgather. Collective.
void rowsplit_exchange(RowSplit *s, int nf, int nr);
// global [gf + gr, D] = the gathered rows of local [nf + nr, D]. Collective.
void gather_rows(const RowSplit *s, const float *local, int D, float *global);
// global [gf, D] = the gathered forget rows of local [nf, D]. Collective.
void gather_forget_rows(const RowSplit *s, const float *local, int D, float *global);
void gather_labels(const RowSplit *s, const int32_t *local, int32_t *global);
// local [nf + nr, D] += this rank's rows of global [gf + gr, D].
void add_own_rows(const RowSplit *s, const float *global, int D, float *local);
