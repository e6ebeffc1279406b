// profile.h: where a training step's time goes (`ecore bench --profile`). A Model with a
// Profile attached (m->prof) adds each op's forward and backward time by op kind, and the
// communication: before each collective it waits at a barrier, so that the time a rank spends
// waiting for the slowest one is counted apart from the transfer itself. The barriers make a
// profiled step slightly slower than an unprofiled one; the breakdown is what it is for.
#pragma once

enum { PROF_OP_KINDS = 16 };  // >= OP_KIND_COUNT (model.h checks)

typedef struct {
  double fwd[PROF_OP_KINDS], bwd[PROF_OP_KINDS];  // seconds, by op kind
  double bn_wait, bn_sync;      // BN statistics: waiting at the barrier, the allreduces
  long bn_msgs;                 // BN allreduces (forward and backward)
  double grad_wait, grad_sync;  // gradient sum: waiting for the slowest rank before the last
                                // bucket completes, then the transfer not hidden by backward
  double grad_overlap;          // time spent starting and testing buckets during backward
  long grad_msgs;               // gradient allreduces (buckets)
  double optim;                 // the SGD update
  double step;                  // whole steps (set by the caller that times them)
  long steps;
} Profile;
