// train.c: see train.h.
#include "train.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dist.h"

int batches_init(Batches *b, const ImageSet *set, const float *mean, const float *std,
                 const Augment *aug, const int32_t *subset, int64_t n, int global_batch,
                 uint64_t seed, MPI_Comm comm, Err *e) {
  memset(b, 0, sizeof *b);
  b->set = set, b->mean = mean, b->std = std;
  if (aug) b->aug = *aug;
  b->subset = subset, b->n = subset ? n : set->n;
  b->global_batch = global_batch, b->seed = seed, b->comm = comm;
  b->rank = 0, b->size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &b->rank), MPI_Comm_size(comm, &b->size);
  if (global_batch <= 0)
    return errf(e, ERR_CONFIG, "batch size must be positive, got %d", global_batch);
  int cap = (global_batch + b->size - 1) / b->size;
  size_t img = (size_t)set->c * set->h * set->w;
  b->order = malloc((size_t)(b->n ? b->n : 1) * sizeof(int32_t));
  b->x = malloc((size_t)cap * img * sizeof(float));
  b->y = malloc((size_t)cap * sizeof(int32_t));
  b->pos = malloc((size_t)cap * sizeof(int64_t));
  b->idx = malloc((size_t)cap * sizeof(int32_t));
  if (!b->order || !b->x || !b->y || !b->pos || !b->idx) {
    batches_free(b);
    return errf(e, ERR_RUNTIME, "out of memory for batches of %d", global_batch);
  }
  return 0;
}

void batches_free(Batches *b) {
  free(b->order), free(b->x), free(b->y), free(b->pos), free(b->idx);
  b->order = NULL, b->x = NULL, b->y = NULL, b->pos = NULL, b->idx = NULL;
}

void batches_start(Batches *b, uint64_t epoch, int shuffle, int64_t skip) {
  b->epoch = epoch;
  b->shuffle = shuffle;
  if (shuffle) {
    data_epoch_order(b->order, b->subset, b->n, b->seed, epoch);
  } else {
    for (int64_t i = 0; i < b->n; i++) b->order[i] = b->subset ? b->subset[i] : (int32_t)i;
  }
  b->cursor = skip * b->global_batch;
  if (b->cursor > b->n) b->cursor = b->n;
}

int64_t batches_per_epoch(const Batches *b) {
  int64_t full = b->n / b->global_batch, rest = b->n % b->global_batch;
  return full + (rest >= (b->shuffle ? 2 : 1));
}

int batches_next(Batches *b) {
  int64_t left = b->n - b->cursor;
  if (left < (b->shuffle ? 2 : 1)) return 0;
  int global = left < b->global_batch ? (int)left : b->global_batch;
  int off, cnt;
  dist_share(global, b->rank, b->size, &off, &cnt);
  for (int i = 0; i < cnt; i++) {
    b->pos[i] = b->cursor + off + i;
    b->idx[i] = b->order[b->pos[i]];
  }
  const Augment *aug = (b->aug.crop_pad || b->aug.hflip) ? &b->aug : NULL;
  data_batch(b->x, b->y, b->set, b->mean, b->std, b->idx, cnt, aug, b->seed, b->epoch, b->pos);
  b->local_batch = cnt;
  b->this_global = global;
  b->cursor += global;
  return 1;
}

int lossbuf_init(LossBuf *l, int capacity, int classes, Err *e) {
  l->capacity = capacity, l->classes = classes;
  l->probs = malloc((size_t)capacity * classes * sizeof(float));
  l->dlogits = malloc((size_t)capacity * classes * sizeof(float));
  if (!l->probs || !l->dlogits) {
    lossbuf_free(l);
    return errf(e, ERR_RUNTIME, "out of memory for the loss buffers");
  }
  return 0;
}

void lossbuf_free(LossBuf *l) {
  free(l->probs), free(l->dlogits);
  l->probs = l->dlogits = NULL;
}

double train_step_ce(Model *m, Sgd *opt, float lr, const float *x, const int32_t *y, int B,
                     int global, LossBuf *l) {
  const int K = m->spec.num_classes;
  model_forward(m, x, B, 1);
  double loss = softmax_xent_forward(l->probs, model_logits(m), y, B, K);
  memset(l->dlogits, 0, (size_t)B * K * sizeof(float));
  softmax_xent_backward(l->dlogits, l->probs, y, B, K, 1.0f / (float)global);
  model_zero_grads(m);
  dist_backward(m, l->dlogits, NULL);
  double t0 = m->prof ? clock_now() : 0;
  sgd_step(opt, m->param_mem, m->grad_mem, lr, NULL);
  if (m->prof) m->prof->optim += clock_now() - t0;
  return dist_sum(m->comm, loss) / global;
}

double eval_accuracy(Model *m, Batches *b, double *loss) {
  const int K = m->spec.num_classes;
  float *probs = malloc((size_t)m->spec.batch_capacity * K * sizeof(float));
  double correct = 0, total_loss = 0, seen = 0;
  batches_start(b, 0, 0, 0);
  while (batches_next(b)) {
    model_forward(m, b->x, b->local_batch, 0);
    const float *logits = model_logits(m);
    if (loss) total_loss += softmax_xent_forward(probs, logits, b->y, b->local_batch, K);
    for (int i = 0; i < b->local_batch; i++) {
      int best = 0;
      for (int k = 1; k < K; k++)
        if (logits[i * K + k] > logits[i * K + best]) best = k;
      correct += best == b->y[i];
    }
    seen += b->local_batch;
  }
  free(probs);
  correct = dist_sum(b->comm, correct);
  seen = dist_sum(b->comm, seen);
  if (loss) *loss = dist_sum(b->comm, total_loss) / (seen > 0 ? seen : 1);
  return seen > 0 ? correct / seen : 0.0;
}

double train_ce_epochs(Model *m, Sgd *opt, Batches *b, const LrSchedule *sched, int from, int to,
                       LossBuf *l) {
  double epoch_loss = 0;
  for (int epoch = from; epoch < to; epoch++) {
    batches_start(b, (uint64_t)epoch, 1, 0);
    int steps = (int)batches_per_epoch(b);
    double sum = 0;
    int s = 0;
    for (; batches_next(b); s++)
      sum += train_step_ce(m, opt, lr_at(sched, epoch, s, steps), b->x, b->y, b->local_batch,
                           b->this_global, l);
    epoch_loss = s ? sum / s : 0;
  }
  return epoch_loss;
}
