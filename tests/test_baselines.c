// test_baselines.c: the literature's baselines on the real MNIST (unlearn_testutil.h: 5000
// images, class 3 forgotten, a one-epoch cnn4 of width 8 as θ_o), each against θ_o and against
// EC alone (none + EC), and each with EC plugged in:
//   distill_kl   its gradient against central finite differences (T = 1 and 4)
//   bad_teacher  forget accuracy falls far below θ_o's, retain accuracy stays; an epoch walks D_f
//                and retain_fraction of D_r (its step count)
//   ssd          θ_u is θ_o dampened exactly as an independent recomputation of the importances
//                says (no training); forget accuracy falls, retain accuracy stays
#include <string.h>

#include "layers.h"
#include "unlearn_testutil.h"

static void test_distill_kl_gradient(void) {
  enum { B = 3, K = 5 };
  const float T[2] = {1.0f, 4.0f};
  float s[B * K], t[B * K], d[B * K];
  uint64_t g = 7;
  for (int i = 0; i < B * K; i++) {
    g = g * 6364136223846793005ULL + 1442695040888963407ULL;
    s[i] = (float)((g >> 40) % 1000) / 250.0f - 2.0f;
    t[i] = (float)((g >> 20) % 1000) / 200.0f - 2.5f;
  }
  for (int c = 0; c < 2; c++) {
    memset(d, 0, sizeof d);
    const double kl = distill_kl(s, t, B, K, T[c], 0.5f, d);
    CHECK(kl > 0);
    double worst = 0;
    for (int i = 0; i < B * K; i++) {
      const float h = 1e-2f, keep = s[i];
      float scratch[B * K];
      s[i] = keep + h;
      const double up = distill_kl(s, t, B, K, T[c], 0.0f, scratch);
      s[i] = keep - h;
      const double down = distill_kl(s, t, B, K, T[c], 0.0f, scratch);
      s[i] = keep;
      const double fd = 0.5 * (up - down) / (2 * h);
      CHECK_CLOSE(d[i], fd, 1e-3, 2e-5);
      if (fabs(d[i] - fd) > worst) worst = fabs(d[i] - fd);
    }
    printf("  distill_kl T=%g: KL %.4f, max |grad - finite difference| %.2g\n", T[c], kl, worst);
    // KL of a set with itself: 0
    memset(d, 0, sizeof d);
    CHECK(fabs(distill_kl(t, t, B, K, T[c], 1.0f, d)) < 1e-6);
  }
}

static void report(const char *what, Eval f0, Eval f, Eval r0, Eval r) {
  printf("  %-18s forget acc %.3f -> %.3f, retain acc %.3f -> %.3f\n", what, f0.acc, f.acc, r0.acc,
         r.acc);
}

// SSD's importances written again, plainly: for each batch (data-set order, batches of B) of
// set[idx], the squared gradient of the batch's
// mean CE at θ_o in eval mode, averaged over the batches.
static void ssd_reference_importance(const TestSetting *s, const int32_t *idx, int64_t n, int B,
                                     double *imp) {
  Model m;
  clone_model(&m, &s->orig, B);
  const int64_t np = m.n_param_floats;
  const ImageSet *set = &s->d.train;
  float *x = malloc((size_t)B * set->c * set->h * set->w * sizeof(float));
  float *probs = malloc((size_t)B * 10 * sizeof(float)),
        *dl = malloc((size_t)B * 10 * sizeof(float));
  int32_t *y = malloc((size_t)B * sizeof(int32_t));
  memset(imp, 0, (size_t)np * sizeof(double));
  int nb = 0;
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    int cnt = (int)(n - i0 < B ? n - i0 : B);
    data_batch(x, y, set, s->d.mean, s->d.std, idx + i0, cnt, NULL, 0, 0, NULL);
    model_forward(&m, x, cnt, 0);
    memset(dl, 0, (size_t)B * 10 * sizeof(float));
    softmax_xent_forward(probs, model_logits(&m), y, cnt, 10);
    softmax_xent_backward(dl, probs, y, cnt, 10, 1.0f / cnt);
    model_zero_grads(&m);
    model_backward(&m, dl, NULL, NULL);
    for (int64_t i = 0; i < np; i++) imp[i] += (double)m.grad_mem[i] * m.grad_mem[i];
    nb++;
  }
  for (int64_t i = 0; i < np; i++) imp[i] /= nb;
  free(x), free(probs), free(dl), free(y);
  model_free(&m);
}

// θ_u of ssd against the dampening of the reference importances; returns how many parameters
// the reference dampens.
static int64_t check_ssd(const TestSetting *s, const UnlearnSpec *spec, const Model *u) {
  const int64_t np = u->n_param_floats, nf = s->fs.n_train_forget, nr = s->fs.n_train_retain;
  double *imp_f = malloc((size_t)np * sizeof(double)), *imp_d = malloc((size_t)np * sizeof(double));
  int32_t *all = malloc((size_t)(nf + nr) * sizeof(int32_t));
  memcpy(all, s->fs.train_forget, (size_t)nf * sizeof(int32_t));
  memcpy(all + nf, s->fs.train_retain, (size_t)nr * sizeof(int32_t));
  ssd_reference_importance(s, s->fs.train_forget, nf, spec->batch_size, imp_f);
  ssd_reference_importance(s, all, nf + nr, spec->batch_size, imp_d);
  int64_t dampened = 0, wrong = 0;
  double worst = 0;
  for (int64_t i = 0; i < np; i++) {
    double want = s->orig.param_mem[i];
    // Near the selection threshold float and double rounding may decide differently: skip.
    const double ratio = imp_f[i] / (spec->ssd.alpha * imp_d[i]);
    if (fabs(ratio - 1) < 1e-3) continue;
    if (ratio > 1) {
      const double beta = spec->ssd.lambda * imp_d[i] / imp_f[i];
      if (beta < 1) want *= beta, dampened++;
    }
    const double err = fabs(u->param_mem[i] - want);
    if (err > 1e-4 * fabs(want) + 1e-7) wrong++;
    if (err > worst) worst = err;
  }
  printf("  ssd: %lld of %lld parameters dampened (reference), %lld differ, worst %.2g\n",
         (long long)dampened, (long long)np, (long long)wrong, worst);
  CHECK(wrong == 0);
  free(imp_f), free(imp_d), free(all);
  return dampened;
}

int main(int argc, char **argv) {
  test_distill_kl_gradient();
  TestSetting s;
  setting_init(&s, argc > 1 ? argv[1] : NULL, MPI_COMM_NULL);
  const Eval f0 = eval_forget(&s.orig, &s), r0 = eval_retain(&s.orig, &s);
  printf("original: forget acc %.3f, retain acc %.3f\n", f0.acc, r0.acc);
  CHECK(f0.acc > 0.8);

  AuxModules aux;
  double acc[MODEL_MAX_POINTS];
  EcSpec es;
  ec_spec_defaults(&es);
  pretrain_modules(&s, &aux, &es.aux, 1, 0.1f, acc);

  Model m;
  UnlearnSpec spec;
  UnlearnStats st;
  Eval f, r;

  // EC alone, the reference every baseline is set beside
  unlearn_spec_defaults(&spec, UNLEARN_NONE);
  spec.ec.enabled = 1, spec.ec.epochs = 2;
  unlearn_with(&s, &spec, &aux, NULL, &m, &st);
  const Eval fe = eval_forget(&m, &s), re = eval_retain(&m, &s);
  report("none + EC", f0, fe, r0, re);
  model_free(&m);

  // bad_teacher: its usual settings (1 epoch, lr 0.005, T 1, 30 % of D_r). On this one-epoch θ_o
  // retain accuracy pays about as much as with EC alone (lr 0.003: forget 0.24, retain 0.89).
  unlearn_spec_defaults(&spec, UNLEARN_BAD_TEACHER);
  unlearn_with(&s, &spec, NULL, NULL, &m, &st);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("bad_teacher", f0, f, r0, r);
  CHECK(f.acc < f0.acc - 0.5 && r.acc > r0.acc - 0.15);
  {
    const int64_t nf = s.fs.n_train_forget, nr = s.fs.n_train_retain;
    const int64_t n = nf + (int64_t)(0.3 * nr + 0.5), B = spec.batch_size;
    printf("  bad_teacher: %lld steps over %lld images\n", (long long)st.steps, (long long)n);
    CHECK(st.steps == n / B + (n % B > 1));
  }
  model_free(&m);
  spec.ec.enabled = 1;
  unlearn_with(&s, &spec, &aux, NULL, &m, &st);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("bad_teacher + EC", f0, f, r0, r);
  CHECK(f.acc < f0.acc - 0.5 && r.acc > r0.acc - 0.25);  // 0.74: EC's pull adds to the lr's cost
  model_free(&m);

  // ssd: its usual settings (α 10, λ 1), no training: the dampening is exactly the reference's
  unlearn_spec_defaults(&spec, UNLEARN_SSD);
  unlearn_with(&s, &spec, NULL, NULL, &m, &st);
  CHECK(st.steps == 0);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("ssd", f0, f, r0, r);
  CHECK(check_ssd(&s, &spec, &m) > 0);
  model_free(&m);
  // SSD's α is sharp on this one-epoch θ_o (as its authors tune it per setting): α 10 dampens
  // 168 parameters and forget accuracy only falls to 0.89; α 9 forgets class 3 entirely, retain
  // 0.79; α 8 and below the retained classes collapse too (retain 0.36 and less).
  spec.ssd.alpha = 9;
  unlearn_with(&s, &spec, NULL, NULL, &m, &st);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("ssd alpha 9", f0, f, r0, r);
  CHECK(check_ssd(&s, &spec, &m) > 0);
  CHECK(f.acc < f0.acc - 0.5 && r.acc > r0.acc - 0.2);
  Model ssd;
  clone_model(&ssd, &m, 0);
  model_free(&m);
  // ssd + EC (α 9): the dampened model then EC alone's run (its schedule)
  spec.ec.enabled = 1, spec.ec.epochs = 2;
  unlearn_with(&s, &spec, &aux, NULL, &m, &st);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("ssd + EC", f0, f, r0, r);
  CHECK(st.steps > 0);
  CHECK(memcmp(m.param_mem, ssd.param_mem, (size_t)m.n_param_floats * sizeof(float)) != 0);
  CHECK(f.acc < f0.acc - 0.5 && r.acc > r0.acc - 0.1);
  model_free(&m), model_free(&ssd);

  // the knobs' ranges
  Err e = {0};
  unlearn_spec_defaults(&spec, UNLEARN_BAD_TEACHER);
  spec.bad_teacher.retain_fraction = 0;
  CHECK(unlearn_spec_check(&spec, &s.orig, &e) == ERR_CONFIG && strstr(e.msg, "retain_fraction"));
  unlearn_spec_defaults(&spec, UNLEARN_SSD);
  spec.ssd.alpha = 0;
  CHECK(unlearn_spec_check(&spec, &s.orig, &e) == ERR_CONFIG && strstr(e.msg, "ssd.alpha"));

  aux_free(&aux);
  setting_free(&s);
  return test_finish("baselines");
}
