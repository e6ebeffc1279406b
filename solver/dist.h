// dist.h: data parallelism over a rank group. Every rank holds the whole model; the global
// batch is split into contiguous shares, gradients are summed over the group, so the same seed
// and global batch train the same way on 1, 2 or 4 ranks.
//
// The gradient sum overlaps the backward (dist_backward), as PyTorch's DDP does: the gradient
// arena is cut into buckets of about m->bucket_floats, from its end (the last layers, whose
// backward runs first); a bucket's non-blocking allreduce starts as soon as every op that
// writes into it is done, and each later op's end gives MPI a chance to progress it. The sum of
// each float is the same as one allreduce of the whole arena would give on 2 ranks; on more,
// MPI's reduction order may differ in the last bit (as between any two message sizes).
#pragma once

#include <mpi.h>

#include "model.h"

// The share of a global batch of B samples that rank `rank` of `size` takes:
// [*offset, *offset + *count). Shares differ by at most one sample.
void dist_share(int B, int rank, int size, int *offset, int *count);
// Parameters and BN buffers from the group's first rank to all (after init or load).
void dist_broadcast_model(Model *m);
// Bucket size by default: 1 Mi floats (4 MiB). On 2 ranks of one machine, resnet18's 45 MB sum
// took 8 ms of progress during the backward instead of 20 ms after it; 1 and 16 MiB measured
// within noise of 4 (docs/scaling.md).
#define DIST_BUCKET_FLOATS ((int64_t)1 << 20)

// Sums the gradient arena over the group (in place). No-op for a single rank.
void dist_allreduce_grads(Model *m);
// model_backward(m, dlogits, dpoints, NULL) then dist_allreduce_grads(m), with the sum
// overlapping the backward in buckets (m->bucket_floats; 0: one blocking allreduce after it).
// Use it only where this backward is the last to add into the gradients before the sum.
void dist_backward(Model *m, const float *dlogits, const float *const *dpoints);
// Averages the BN running statistics over the group (needed only with per-rank BN
// statistics, bn_sync = 0, where ranks' running stats drift apart).
void dist_average_buffers(Model *m);
// Sums one double over the group (losses, correct counts).
double dist_sum(MPI_Comm comm, double x);
