// ec_pretrain.c: pretraining of EC's auxiliary modules on the frozen original (docs/methods.md,
// "Pretraining the modules"), and their test accuracy.
//
// θ_o runs in eval mode (frozen: no gradient reaches it); the modules train in training mode on
// its supervision points, over the whole training set with d's augmentation, with
//   Σ_l CE(c_l(h_l), y)  [+ Σ_l SupCon(z_l) when ps->supcon]
// (the module whose classifier is the network's own head has no CE: that head is trained). SGD
// with momentum, cosine learning rate. The batch is split over the ranks; SupCon gathers the
// embeddings of the whole batch (gather.h), so the result does not depend on the rank count.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"
#include "dist.h"
#include "ec.h"
#include "run.h"

typedef struct {
  Model o;
  AuxWork w;
  Sgd opt;
  Batches b;
  RowSplit rs;
  float *probs, *dlog, *zg, *dzg, *dz;
  int32_t *yg;
} Pretrain;

static void pretrain_free(Pretrain *p) {
  model_free(&p->o);
  aux_work_free(&p->w);
  sgd_free(&p->opt);
  batches_free(&p->b);
  rowsplit_free(&p->rs);
  free(p->probs), free(p->dlog), free(p->zg), free(p->dzg), free(p->dz), free(p->yg);
}

// One step on the local batch (x, y, B) of a global batch; returns the global loss.
static int pretrain_step(AuxModules *a, Pretrain *p, const EcPretrainSpec *ps, const float *x,
                         const int32_t *y, int B, float lr, double *loss, Err *e) {
  const int K = a->num_classes;
  model_forward(&p->o, x, B, 0);
  aux_zero_grads(a);
  rowsplit_exchange(&p->rs, 0, B);  // all rows in the "retain" part: one block per rank
  const int G = p->rs.gr;
  if (ps->supcon) gather_labels(&p->rs, y, p->yg);
  double sums[2 * MODEL_MAX_POINTS] = {0};  // local CE sums, then SupCon losses
  for (int k = 0; k < a->n_modules; k++) {
    aux_forward(a, &p->w, k, model_point(&p->o, a->mod[k].point, NULL, NULL, NULL), B, 1);
    const float *dl = NULL, *dz = NULL;
    if (a->mod[k].wc >= 0) {
      memset(p->dlog, 0, (size_t)B * K * sizeof(float));
      sums[k] = softmax_xent_forward(p->probs, aux_logits(&p->w, k), y, B, K);
      softmax_xent_backward(p->dlog, p->probs, y, B, K, 1.0f / (float)G);
      dl = p->dlog;
    }
    if (ps->supcon) {
      const int P = a->mod[k].p;
      ContrastiveSpec cs = {
          .tau = ps->supcon_temperature, .pos_same_class = 1, .neg_all = 1, .exclude_self = 1};
      gather_rows(&p->rs, aux_z(&p->w, k), P, p->zg);
      memset(p->dzg, 0, (size_t)G * P * sizeof(float));
      int rc = contrastive_loss(p->zg, p->yg, G, p->zg, p->yg, G, NULL, P, &cs, 1.0f,
                                &sums[MODEL_MAX_POINTS + k], p->dzg, p->dzg, NULL, e);
      if (rc) return rc;
      memset(p->dz, 0, (size_t)B * P * sizeof(float));
      add_own_rows(&p->rs, p->dzg, P, p->dz);
      dz = p->dz;
    }
    if (dl || dz) aux_backward(a, &p->w, k, dz, dl, NULL);
  }
  aux_allreduce_grads(a);
  sgd_step(&p->opt, a->net.param_mem, a->net.grad_mem, lr, NULL);
  double ce = 0.0, sc = 0.0;
  for (int k = 0; k < a->n_modules; k++) ce += sums[k], sc += sums[MODEL_MAX_POINTS + k];
  *loss = dist_sum(p->rs.comm, ce) / G + sc;  // SupCon losses are already global
  return 0;
}

int ec_pretrain(AuxModules *aux, const Model *original, const Dataset *d, const EcPretrainSpec *ps,
                uint64_t seed, MPI_Comm comm, const UnlearnProgress *progress, Err *e) {
  if (ps->epochs < 0 || ps->batch_size < 1 || !(ps->lr > 0))
    return errf(e, ERR_CONFIG, "bad EC pretraining settings (epochs %d, batch %d, lr %g)",
                ps->epochs, ps->batch_size, ps->lr);
  int rc = model_check_data(original, d, e);
  if (rc) return rc;
  int size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &size);
  const int cap = (ps->batch_size + size - 1) / size, K = aux->num_classes;
  const size_t P = (size_t)aux_max_embed(aux), G = (size_t)ps->batch_size;
  Pretrain p;
  memset(&p, 0, sizeof p);
  const MPI_Comm caller_comm = aux->comm;
  aux->comm = comm;  // the modules' BN statistics are summed over the group while training
  if ((rc = clone_model_for(&p.o, original, cap, comm, e)) ||
      (rc = aux_work_init(&p.w, aux, cap, e)) ||
      (rc = sgd_init(&p.opt, aux->net.n_param_floats, ps->momentum, ps->weight_decay, 0, e)) ||
      (rc = batches_init(&p.b, &d->train, d->mean, d->std, &d->aug, NULL, 0, ps->batch_size,
                         run_seed(seed, TAG_PRETRAIN), comm, e)) ||
      (rc = rowsplit_init(&p.rs, comm, e)))
    goto done;
  p.probs = malloc((size_t)cap * K * sizeof(float));
  p.dlog = malloc((size_t)cap * K * sizeof(float));
  p.zg = malloc(G * P * sizeof(float));
  p.dzg = malloc(G * P * sizeof(float));
  p.dz = malloc((size_t)cap * P * sizeof(float));
  p.yg = malloc(G * sizeof(int32_t));
  if (!p.probs || !p.dlog || !p.zg || !p.dzg || !p.dz || !p.yg) {
    rc = errf(e, ERR_RUNTIME, "out of memory for EC pretraining batches of %d", ps->batch_size);
    goto done;
  }
  LrSchedule sched = {.kind = SCHED_COSINE, .base_lr = ps->lr, .epochs = ps->epochs};
  for (int epoch = 0; epoch < ps->epochs && !rc; epoch++) {
    batches_start(&p.b, (uint64_t)epoch, 1, 0);
    const int steps = (int)batches_per_epoch(&p.b);
    double sum = 0.0;
    int s = 0;
    for (; batches_next(&p.b); s++) {
      double loss;
      rc = pretrain_step(aux, &p, ps, p.b.x, p.b.y, p.b.local_batch, lr_at(&sched, epoch, s, steps),
                         &loss, e);
      if (!rc && !isfinite(loss))
        rc = errf(e, ERR_RUNTIME, "diverged: EC pretraining loss is %g in epoch %d", loss,
                  epoch + 1);
      if (rc) break;
      sum += loss;
    }
    if (!rc && progress && progress->fn)
      progress->fn(progress->user, "ec-pretrain", epoch + 1, ps->epochs, s ? sum / s : 0.0);
  }
done:
  pretrain_free(&p);
  aux->comm = caller_comm;
  return rc;
}

int ec_aux_accuracy(const AuxModules *aux, const Model *original, const Dataset *d, MPI_Comm comm,
                    double *acc, Err *e) {
  enum { BATCH = 256 };
  int rc = model_check_data(original, d, e);
  if (rc) return rc;
  int size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &size);
  const int cap = (BATCH + size - 1) / size, K = aux->num_classes;
  Model o;
  AuxWork w;
  Batches b;
  memset(&w, 0, sizeof w);
  memset(&b, 0, sizeof b);
  rc = clone_model_for(&o, original, cap, comm, e);
  if (rc) return rc;
  AuxModules *a = (AuxModules *)aux;  // eval-mode forwards only read the parameters
  if ((rc = aux_work_init(&w, a, cap, e)) ||
      (rc = batches_init(&b, &d->test, d->mean, d->std, NULL, NULL, 0, BATCH, 0, comm, e)))
    goto done;
  double correct[MODEL_MAX_POINTS] = {0}, seen = 0;
  batches_start(&b, 0, 0, 0);
  while (batches_next(&b)) {
    model_forward(&o, b.x, b.local_batch, 0);
    for (int k = 0; k < a->n_modules; k++) {
      aux_forward(a, &w, k, model_point(&o, a->mod[k].point, NULL, NULL, NULL), b.local_batch, 0);
      const float *lg = a->mod[k].wc >= 0 ? aux_logits(&w, k) : model_logits(&o);
      correct[k] += count_correct(lg, b.y, b.local_batch, K);
    }
    seen += b.local_batch;
  }
  seen = dist_sum(comm, seen);
  for (int k = 0; k < a->n_modules; k++)
    acc[k] = seen > 0 ? dist_sum(comm, correct[k]) / seen : 0.0;
done:
  batches_free(&b);
  aux_work_free(&w);
  model_free(&o);
  return rc;
}
