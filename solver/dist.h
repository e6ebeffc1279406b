// dist.h: data parallelism over a rank group. Every rank holds the whole model; the global
// batch is split into contiguous shares, gradients are summed with one allreduce over the
// gradient arena, so the same seed and global batch train the same way on 1, 2 or 4 ranks.
#pragma once

#include <mpi.h>

#include "model.h"

// The share of a global batch of B samples that rank `rank` of `size` takes:
// [*offset, *offset + *count). Shares differ by at most one sample.
void dist_share(int B, int rank, int size, int *offset, int *count);
// Parameters and BN buffers from the group's first rank to all (after init or load).
void dist_broadcast_model(Model *m);
// Sums the gradient arena over the group (in place). No-op for a single rank.
void dist_allreduce_grads(Model *m);
// Averages the BN running statistics over the group (needed only with per-rank BN
// statistics, bn_sync = 0, where ranks' running stats drift apart).
void dist_average_buffers(Model *m);
// Sums one double over the group (losses, correct counts).
double dist_sum(MPI_Comm comm, double x);
