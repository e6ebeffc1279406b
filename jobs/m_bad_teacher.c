// m_bad_teacher.c: Bad Teaching (Chundawat et al. 2023). The student θ_u (from θ_o) is distilled
// from two frozen teachers in eval mode: the competent θ_o on retain rows, an incompetent teacher
// (the same architecture, randomly initialised from the run's seed) on forget rows:
//   L = mean over the batch's rows of KL(teacher(x)‖student(x)),  p = softmax(logits/T)
// (their UnlearnerLoss: kl_div with batchmean, no T² factor). Union-driven over D_f ∪ a seeded
// subset of retain_fraction·|D_r| retain images (their 30 %), shuffled together.
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run.h"

typedef struct {
  Model bad;       // the incompetent teacher
  float *tlogits;  // [cap, K] the teachers' logits of the step's rows
} BadTeacherState;

// The teachers' logits: the incompetent teacher's for forget rows [0, nf), θ_o's for the rest.
static void bad_teacher_step(Run *r) {
  BadTeacherState *st = r->ms;
  const int nf = r->rs.nf, nr = r->rs.nr, K = r->m.spec.num_classes;
  const size_t img = (size_t)r->d->train.c * r->d->train.h * r->d->train.w;
  if (nf > 0) {
    model_forward(&st->bad, r->x, nf, 0);
    memcpy(st->tlogits, model_logits(&st->bad), (size_t)nf * K * sizeof(float));
  }
  if (nr > 0) {
    model_forward(&r->orig, r->x + nf * img, nr, 0);
    memcpy(st->tlogits + (size_t)nf * K, model_logits(&r->orig), (size_t)nr * K * sizeof(float));
  }
}

static int bad_teacher_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const BadTeacherState *st = r->ms;
  const float inv = inv_rows(r->rs.gf + r->rs.gr), T = (float)r->spec->bad_teacher.temperature;
  const double l = kl_rows(r, 0, r->rs.nf + r->rs.nr, st->tlogits, T, inv);
  *loss = dist_sum(r->comm, l) * inv;
  return 0;
}

// The teacher, its buffer, and the union shortened to D_f and a seeded subset of D_r (the same
// on every rank).
static int bad_teacher_init(Run *r, Err *e) {
  BadTeacherState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "bad_teacher: out of memory");
  st->tlogits = malloc((size_t)r->cap * r->m.spec.num_classes * sizeof(float));
  if (!st->tlogits) return errf(e, ERR_RUNTIME, "bad_teacher: out of memory for %d rows", r->cap);
  ModelSpec ms = r->m.spec;
  ms.batch_capacity = r->cap;
  int rc = model_create(&st->bad, &ms, e);
  if (rc) return rc;
  model_init(&st->bad, run_seed(r->seed, TAG_BAD_TEACHER));
  retain_subset(r, r->spec->bad_teacher.retain_fraction);
  return 0;
}

static void bad_teacher_free(Run *r) {
  BadTeacherState *st = r->ms;
  if (st) free(st->tlogits), model_free(&st->bad);
  free(st);
}

static int bad_teacher_check(const UnlearnSpec *s, Err *e) {
  if (!(s->bad_teacher.temperature > 0))
    return errf(e, ERR_CONFIG, "unlearn.bad_teacher.temperature must be positive");
  if (!(s->bad_teacher.retain_fraction > 0 && s->bad_teacher.retain_fraction <= 1))
    return errf(e, ERR_CONFIG, "unlearn.bad_teacher.retain_fraction must be in (0, 1]");
  return 0;
}

const UnlearnMethodDef method_bad_teacher = {
    .name = "bad_teacher",
    .usual_lr = 0.005,  // their Adam at 1e-4 has no SGD equivalent: see docs/methods.md
    .usual_epochs = 1,
    .needs_original = 1,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_UNION, .ec_cu = 1, .ec_ce = 1, .loss = bad_teacher_loss}},
    .check = bad_teacher_check,
    .init = bad_teacher_init,
    .free = bad_teacher_free,
    .step = bad_teacher_step,
};
