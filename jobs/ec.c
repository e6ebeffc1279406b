// ec.c: EC's per-step losses over every auxiliary module (see ec.h).
#include "ec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"

int ec_scheme_weights(const EcSpec *s, int n, double *w, Err *e) {
  for (int k = 0; k < n; k++) {
    switch (s->layer_weights.scheme) {
      case EC_WEIGHTS_UNIFORM:
      case EC_WEIGHTS_CKA:  // until the first measurement: CKA(θ_o, θ_o) = 1 everywhere
        w[k] = 1.0;
        break;
      case EC_WEIGHTS_INCREASING:  // ∝ k+1, mean 1
        w[k] = 2.0 * (k + 1) / (n + 1);
        break;
      case EC_WEIGHTS_DECREASING:
        w[k] = 2.0 * (n - k) / (n + 1);
        break;
      case EC_WEIGHTS_LIST:
        if (s->layer_weights.list.n != n)
          return errf(e, ERR_CONFIG, "ec.layer_weights has %d weights for %d supervision points",
                      s->layer_weights.list.n, n);
        w[k] = (float)s->layer_weights.list.v[k];
        break;
    }
  }
  return 0;
}

int ec_init(EcState *ec, const EcSpec *spec, const AuxModules *pretrained, Model *m,
            const Dataset *d, const int32_t *probe_idx, int n_probe, int cap, int gcap,
            float momentum, float weight_decay, MPI_Comm comm, Err *e) {
  memset(ec, 0, sizeof *ec);
  ec->spec = *spec;
  ec->comm = comm;
  if (pretrained->num_classes != m->spec.num_classes)
    return errf(e, ERR_CONFIG, "EC modules for %d classes, model has %d", pretrained->num_classes,
                m->spec.num_classes);
  for (int k = 0; k < pretrained->n_modules; k++) {
    int h, w, c;
    const AuxModule *md = &pretrained->mod[k];
    if (md->point >= m->n_points) return errf(e, ERR_CONFIG, "EC modules do not fit the model");
    model_point(m, md->point, &h, &w, &c);
    if (h != md->h || w != md->w || c != md->c)
      return errf(e, ERR_CONFIG, "EC module %s expects %dx%dx%d, the model gives %dx%dx%d",
                  md->name, md->h, md->w, md->c, h, w, c);
  }
  // The modules must be those the spec describes (a cache mix-up would otherwise go unnoticed).
  const AuxSpec *want = &spec->aux, *have = &pretrained->spec;
  const int want_head = want->head != AUX_HEAD_NONE, have_head = have->head != AUX_HEAD_NONE;
  int same = want->summariser == have->summariser && want_head == have_head &&
             (!want_head || want->proj_dim == have->proj_dim) &&
             !want->own_head_last == !have->own_head_last &&
             (want->n_points ? want->n_points : m->n_points) == have->n_points;
  for (int k = 0; same && want->n_points && k < want->n_points; k++)
    same = want->points[k] == have->points[k];
  if (!same)
    return errf(e, ERR_CONFIG,
                "the pretrained EC modules were built for other ec settings (summariser, "
                "head, proj_dim, own_head_last or points)");
  int rc = aux_clone(&ec->aux, pretrained, e);
  if (rc) return rc;
  ec->aux.comm = comm;
  ec->aux.spec.head = want->head;  // frozen or trained: the same parameters, another optimiser
  ec->P = aux_max_embed(&ec->aux);
  ec->K = m->spec.num_classes;
  if ((rc = aux_work_init(&ec->work, &ec->aux, cap, e))) goto fail;
  if (spec->push_original && (rc = aux_work_init(&ec->owork, &ec->aux, cap, e))) goto fail;
  if ((rc = sgd_init(&ec->opt, ec->aux.net.n_param_floats, momentum, weight_decay, 0, e)))
    goto fail;
  if (want->head == AUX_HEAD_FROZEN) {
    ec->train_mask = malloc((size_t)(ec->aux.net.n_param_floats ? ec->aux.net.n_param_floats : 1) *
                            sizeof(float));
    if (!ec->train_mask) {
      rc = errf(e, ERR_RUNTIME, "out of memory for the EC modules' mask");
      goto fail;
    }
    aux_train_mask(&ec->aux, ec->train_mask);
  }
  const size_t P = (size_t)ec->P, K = (size_t)ec->K, c = (size_t)cap, g = (size_t)gcap;
  ec->zg = malloc(g * P * sizeof(float));
  ec->dzg = malloc(g * P * sizeof(float));
  ec->dz = malloc(c * P * sizeof(float));
  ec->dlog = malloc(c * K * sizeof(float));
  ec->probs = malloc(c * K * sizeof(float));
  ec->yg = malloc(g * sizeof(int32_t));
  ec->mstat = malloc(2 * P * sizeof(double));
  int fail = !ec->zg || !ec->dzg || !ec->dz || !ec->dlog || !ec->probs || !ec->yg || !ec->mstat;
  if (spec->push_original) {
    ec->zog = malloc(g * P * sizeof(float));
    fail |= !ec->zog;
    for (int k = 0; k < ec->aux.n_modules; k++) {
      ec->zo[k] = malloc(c * P * sizeof(float));
      fail |= !ec->zo[k];
    }
  }
  if (fail) {
    rc = errf(e, ERR_RUNTIME, "out of memory for EC's buffers (batch %d)", gcap);
    goto fail;
  }
  if ((rc = ec_scheme_weights(spec, ec->aux.n_modules, ec->weights, e))) goto fail;
  for (int k = 0; k < ec->aux.n_modules; k++) ec->cka[k] = 1.0;
  if (spec->layer_weights.scheme == EC_WEIGHTS_CKA &&
      (rc = ec_cka_init(ec, m, d, probe_idx, n_probe, e)))
    goto fail;
  return 0;
fail:
  ec_free(ec);
  return rc;
}

void ec_free(EcState *ec) {
  aux_work_free(&ec->work);
  aux_work_free(&ec->owork);
  aux_free(&ec->aux);
  sgd_free(&ec->opt);
  free(ec->zg), free(ec->dzg), free(ec->dz), free(ec->dlog), free(ec->probs), free(ec->yg);
  free(ec->mstat);
  free(ec->zog), free(ec->probe_x), free(ec->train_mask);
  for (int k = 0; k < MODEL_MAX_POINTS; k++) free(ec->zo[k]), free(ec->gram_orig[k]);
  memset(ec, 0, sizeof *ec);
}

void ec_original_embeddings(EcState *ec, Model *orig, int nf) {
  for (int k = 0; k < ec->aux.n_modules; k++) {
    const float *x = model_point(orig, ec->aux.mod[k].point, NULL, NULL, NULL);
    // Eval mode: the modules' BN uses its running statistics, so no collective is needed and the
    // step's own training-mode statistics stay those of the step's batch.
    aux_forward(&ec->aux, &ec->owork, k, x, nf, 0);
    memcpy(ec->zo[k], aux_z(&ec->owork, k), (size_t)nf * ec->aux.mod[k].p * sizeof(float));
  }
}

// The step's diagnostics of a module's embeddings zg [gf + gr, P] (global batch):
//   cos_fr = <mean_f z, mean_r z>, the mean cosine between forget and retain embeddings;
//   spread = 1 − ‖mean z‖², the mean squared distance between two embeddings over 2 (0: collapse).
static void embed_stats(const float *zg, int gf, int gr, int P, double *m /* [2P] */,
                        double *cos_fr, double *spread) {
  double *mf = m, *mr = m + P;
  for (int t = 0; t < 2 * P; t++) m[t] = 0.0;
  for (int i = 0; i < gf + gr; i++)
    for (int t = 0; t < P; t++) (i < gf ? mf : mr)[t] += zg[(size_t)i * P + t];
  double dot = 0.0, all = 0.0;
  for (int t = 0; t < P; t++) {
    dot += (gf ? mf[t] / gf : 0.0) * (gr ? mr[t] / gr : 0.0);
    const double mean = (mf[t] + mr[t]) / (gf + gr);
    all += mean * mean;
  }
  *cos_fr = gf && gr ? dot : NAN;
  *spread = 1.0 - all;
}

// L_cu of module k on the gathered embeddings; the gradient rows of this rank's samples end in
// ec->dz [n, p]. Returns the loss through *loss.
static int cu_part(EcState *ec, int k, const RowSplit *rs, float scale, double *loss, Err *e) {
  const int P = ec->aux.mod[k].p, gf = rs->gf, gr = rs->gr, n = rs->nf + rs->nr;
  gather_rows(rs, aux_z(&ec->work, k), P, ec->zg);
  const float *zog = NULL;
  if (ec->spec.push_original) {
    gather_forget_rows(rs, ec->zo[k], P, ec->zog);
    zog = ec->zog;
  }
  memset(ec->dzg, 0, (size_t)(gf + gr) * P * sizeof(float));
  ContrastiveSpec cs = {.tau = ec->spec.temperature,
                        .eps = ec->spec.log_eps,
                        .pos_lse = ec->spec.pull == EC_PULL_NEAREST};
  int rc;
  if (ec->spec.variant == EC_LOSS_CU) {
    // detach_retain: the retain embeddings are the targets of the pull, not pulled themselves.
    float *dzr = ec->spec.detach_retain ? NULL : ec->dzg + (size_t)gf * P;
    rc = contrastive_loss(ec->zg, ec->yg, gf, ec->zg + (size_t)gf * P, ec->yg + gf, gr, zog, P, &cs,
                          scale, loss, ec->dzg, dzr, NULL, e);
  } else {
    cs.exclude_self = 1;
    rc = contrastive_loss(ec->zg, ec->yg, gf, ec->zg, ec->yg, gf, zog, P, &cs, scale, loss, ec->dzg,
                          ec->dzg, NULL, e);
  }
  if (rc) return rc;
  memset(ec->dz, 0, (size_t)n * P * sizeof(float));
  add_own_rows(rs, ec->dzg, P, ec->dz);
  return 0;
}

int ec_step_losses(EcState *ec, Model *m, const RowSplit *rs, const int32_t *y, int use_cu,
                   int use_ce, float *dlogits, float *const *dpoints, EcLosses *out, Err *e) {
  const int K = ec->K, nf = rs->nf, nr = rs->nr, n = nf + nr, L = ec->aux.n_modules;
  const EcSpec *s = &ec->spec;
  const float lambda_cu = (float)s->lambda_cu, lambda_ce = (float)s->lambda_ce;
  memset(out, 0, sizeof *out);
  for (int k = 0; k < L; k++) out->cos_fr[k] = out->spread[k] = NAN;
  aux_zero_grads(&ec->aux);
  use_cu = use_cu && lambda_cu > 0 && rs->gf > 0;
  use_ce = use_ce && lambda_ce > 0 && rs->gr > 0;
  if (use_cu) gather_labels(rs, y, ec->yg);
  double ce_sum[MODEL_MAX_POINTS] = {0};
  for (int k = 0; k < L; k++) {
    const AuxModule *md = &ec->aux.mod[k];
    aux_forward(&ec->aux, &ec->work, k, model_point(m, md->point, NULL, NULL, NULL), n, 1);
    const float w = (float)ec->weights[k];
    const float *dz = NULL, *dl = NULL;
    if (use_cu) {
      int rc = cu_part(ec, k, rs, lambda_cu * w, &out->cu[k], e);
      if (rc) return rc;
      embed_stats(ec->zg, rs->gf, rs->gr, md->p, ec->mstat, &out->cos_fr[k], &out->spread[k]);
      dz = ec->dz;
    }
    if (use_ce) {
      // The module's classifier, or the network's own head (its gradient joins dlogits).
      const int own = md->wc < 0;
      const float *logits = own ? model_logits(m) : aux_logits(&ec->work, k);
      float *dst = own ? dlogits : ec->dlog;
      if (!own) memset(ec->dlog, 0, (size_t)n * K * sizeof(float));
      ce_sum[k] = softmax_xent_forward(ec->probs, logits + (size_t)nf * K, y + nf, nr, K);
      softmax_xent_backward(dst + (size_t)nf * K, ec->probs, y + nf, nr, K,
                            lambda_ce * w / (float)rs->gr);
      if (!own) dl = ec->dlog;
    }
    if (dz || dl) aux_backward(&ec->aux, &ec->work, k, dz, dl, dpoints[md->point]);
  }
  if (use_ce && rs->size > 1) MPI_Allreduce(MPI_IN_PLACE, ce_sum, L, MPI_DOUBLE, MPI_SUM, rs->comm);
  for (int k = 0; k < L; k++) {
    if (use_ce) out->ce[k] = ce_sum[k] / rs->gr;
    out->total += ec->weights[k] * (lambda_cu * out->cu[k] + lambda_ce * out->ce[k]);
  }
  return 0;
}

void ec_update(EcState *ec, Model *m, float lr) {
  aux_allreduce_grads(&ec->aux);
  sgd_step(&ec->opt, ec->aux.net.param_mem, ec->aux.net.grad_mem, lr, ec->train_mask);
  ec->steps++;
  if (ec->spec.layer_weights.scheme == EC_WEIGHTS_CKA && ec->steps % ec->spec.cka_every == 0)
    ec_cka_update(ec, m);
}
