// test_unlearn.c: each base method on the real MNIST (unlearn_testutil.h: 5000 images, class 3
// forgotten, a one-epoch cnn4 of width 8 as θ_o) shows its own effect, deterministically:
//   retrain  never sees class 3: forget accuracy near 0
//   ft       keeps retain accuracy
//   ga       raises the forget loss
//   neggrad+ raises the forget loss, keeps retain accuracy
//   rl       spreads the forget predictions (entropy up), forget accuracy down
//   salun    moves only parameters in its saliency mask (recomputed here independently): every
//            other parameter is bit-for-bit unchanged; the mask holds q of them
//   l1sparse ends with a smaller ‖θ‖₁ than ft run identically without the penalty
//   scrub    its max passes raise KL(θ_o‖θ_u) on the forget set (against a run without them)
//   bs       lowers forget accuracy (every FGSM label is a wrong one)
//   cu       lowers forget accuracy, keeps retain accuracy
// and original/none are no-ops, the spec checks catch bad values, and a run is reproducible.
#include <string.h>

#include "unlearn_testutil.h"

static int verbose = 0;

static void progress_line(void *user, const char *phase, int epoch, int epochs, double loss) {
  (void)user;
  if (verbose) printf("    %s epoch %d/%d loss %.4f\n", phase, epoch, epochs, loss);
}
static const UnlearnProgress progress = {.fn = progress_line};

// θ_u = method(θ_o) with spec; returns a new model (free it).
static void run(TestSetting *s, const UnlearnSpec *spec, Model *out) {
  clone_model(out, &s->orig, 0);
  Err e = {0};
  double t0 = now_s();
  int rc =
      unlearn_run(out, &s->orig, &s->d, &s->fs, spec, NULL, 5, MPI_COMM_NULL, &progress, NULL, &e);
  if (rc) fprintf(stderr, "%s: %s\n", unlearn_method_name(spec->method), e.msg);
  CHECK(rc == 0);
  printf("  %-9s ran in %.2f s\n", unlearn_method_name(spec->method), now_s() - t0);
}

static void report(const char *what, Eval before, Eval after) {
  printf("  %-9s acc %.3f -> %.3f, loss %.3f -> %.3f, entropy %.3f -> %.3f\n", what, before.acc,
         after.acc, before.loss, after.loss, before.entropy, after.entropy);
}

static double l1_norm(const Model *m) {
  double s = 0;
  for (int64_t i = 0; i < m->n_param_floats; i++) s += fabs(m->param_mem[i]);
  return s;
}

// SalUn's mask, written again here: top q of |∇(−CE over D_f)| at θ_o in eval mode, as a 0/1
// array. Returns the threshold.
static float salun_reference_mask(TestSetting *s, float q, uint8_t *mask) {
  Model m;
  clone_model(&m, &s->orig, 500);
  const int64_t nf = s->fs.n_train_forget, np = m.n_param_floats;
  const ImageSet *set = &s->d.train;
  float *x = malloc((size_t)500 * set->c * set->h * set->w * sizeof(float));
  float *probs = malloc(500 * 10 * sizeof(float)), *dl = calloc(500 * 10, sizeof(float));
  int32_t y[500];
  model_zero_grads(&m);
  for (int64_t i0 = 0; i0 < nf; i0 += 500) {
    int cnt = (int)(nf - i0 < 500 ? nf - i0 : 500);
    data_batch(x, y, set, s->d.mean, s->d.std, s->fs.train_forget + i0, cnt, NULL, 0, 0, NULL);
    model_forward(&m, x, cnt, 0);
    memset(dl, 0, 500 * 10 * sizeof(float));
    softmax_xent_forward(probs, model_logits(&m), y, cnt, 10);
    softmax_xent_backward(dl, probs, y, cnt, 10, -1.0f / nf);
    model_backward(&m, dl, NULL, NULL);
  }
  float *mag = malloc((size_t)np * sizeof(float));
  for (int64_t i = 0; i < np; i++) mag[i] = fabsf(m.grad_mem[i]);
  // k-th largest by sorting a copy (slow but independent of the library's quickselect).
  int cmp(const void *a, const void *b);
  qsort(mag, (size_t)np, sizeof(float), cmp);
  int64_t keep = (int64_t)(q * np + 0.5);
  float t = mag[np - keep];
  for (int64_t i = 0; i < np; i++) mask[i] = fabsf(m.grad_mem[i]) >= t;
  free(x), free(probs), free(dl), free(mag);
  model_free(&m);
  return t;
}

int cmp(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static void test_noops_and_checks(TestSetting *s) {
  Model m;
  UnlearnSpec spec;
  unlearn_spec_defaults(&spec, UNLEARN_ORIGINAL);
  run(s, &spec, &m);
  CHECK(memcmp(m.param_mem, s->orig.param_mem, (size_t)m.n_param_floats * sizeof(float)) == 0);
  model_free(&m);
  unlearn_spec_defaults(&spec, UNLEARN_NONE);  // none without EC: the original
  run(s, &spec, &m);
  CHECK(memcmp(m.param_mem, s->orig.param_mem, (size_t)m.n_param_floats * sizeof(float)) == 0);
  model_free(&m);

  Err e = {0};
  unlearn_spec_defaults(&spec, UNLEARN_SALUN);
  spec.salun.q = 0;
  CHECK(unlearn_spec_check(&spec, &s->orig, &e) == ERR_CONFIG);
  unlearn_spec_defaults(&spec, UNLEARN_FT);
  static const double ones[4] = {1, 1, 1, 1};
  spec.ec.enabled = 1, spec.ec.layer_weights = (LayerWeights){EC_WEIGHTS_LIST, {3, ones}};
  CHECK(unlearn_spec_check(&spec, &s->orig, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "layer_weights") != NULL);
  spec.ec.layer_weights.list.n = 4;
  CHECK(unlearn_spec_check(&spec, &s->orig, &e) == 0);
  spec.ec.aux.summariser = AUX_SUMMARISER_CONV;
  CHECK(unlearn_spec_check(&spec, &s->orig, &e) == 0);
  CHECK(unlearn_method_from_name("neggrad+") == UNLEARN_NEGGRAD_PLUS);
  CHECK(unlearn_method_from_name("nope") == -1);
  for (int i = 0; i < UNLEARN_METHOD_COUNT; i++)
    CHECK(unlearn_method_from_name(unlearn_method_name(i)) == i);
  // A model that does not take the data set's images.
  ModelSpec other = small_cnn4(8);
  other.in_h = other.in_w = 16;
  CHECK(model_create(&m, &other, &e) == 0);
  unlearn_spec_defaults(&spec, UNLEARN_FT);
  CHECK(unlearn_run(&m, &s->orig, &s->d, &s->fs, &spec, NULL, 1, MPI_COMM_NULL, NULL, NULL, &e) ==
        ERR_CONFIG);
  CHECK(strstr(e.msg, "16x16") != NULL);
  model_free(&m);
  // EC needs its modules.
  unlearn_spec_defaults(&spec, UNLEARN_NONE);
  spec.ec.enabled = 1;
  clone_model(&m, &s->orig, 0);
  CHECK(unlearn_run(&m, &s->orig, &s->d, &s->fs, &spec, NULL, 1, MPI_COMM_NULL, NULL, NULL, &e) ==
        ERR_CONFIG);
  model_free(&m);
}

int main(int argc, char **argv) {
  verbose = getenv("ECORE_TEST_VERBOSE") != NULL;
  TestSetting s;
  setting_init(&s, argc > 1 ? argv[1] : NULL, MPI_COMM_NULL);
  const Eval f0 = eval_forget(&s.orig, &s), r0 = eval_retain(&s.orig, &s),
             t0 = eval_test(&s.orig, &s);
  printf("original: forget acc %.3f, retain acc %.3f, test acc %.3f\n", f0.acc, r0.acc, t0.acc);
  CHECK(t0.acc > 0.85);

  test_noops_and_checks(&s);

  Model m;
  UnlearnSpec spec;

  // retrain: one epoch on D_r from scratch
  unlearn_spec_defaults(&spec, UNLEARN_RETRAIN);
  spec.retrain.epochs = 1, spec.retrain.batch_size = 64, spec.retrain.lr = 0.05f;
  run(&s, &spec, &m);
  Eval f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("retrain", f0, f);
  CHECK(f.acc < 0.05 && r.acc > 0.85);
  model_free(&m);

  // ft: one epoch on D_r from θ_o
  unlearn_spec_defaults(&spec, UNLEARN_FT);
  spec.epochs = 1;
  run(&s, &spec, &m);
  r = eval_retain(&m, &s);
  report("ft retain", r0, r);
  CHECK(r.acc > r0.acc - 0.02);
  Model ft;
  clone_model(&ft, &m, 0);
  model_free(&m);

  // l1sparse: the same as ft plus the penalty (same seed, same order): smaller ‖θ‖₁
  unlearn_spec_defaults(&spec, UNLEARN_L1SPARSE);
  spec.epochs = 1, spec.l1sparse.alpha = 1e-3f;
  run(&s, &spec, &m);
  printf("  l1sparse |theta|_1 %.2f, ft %.2f, original %.2f\n", l1_norm(&m), l1_norm(&ft),
         l1_norm(&s.orig));
  CHECK(l1_norm(&m) < l1_norm(&ft) - 1.0);
  model_free(&m), model_free(&ft);

  // ga: its usual settings (lr 1e-4, 5 epochs over D_f)
  unlearn_spec_defaults(&spec, UNLEARN_GA);
  run(&s, &spec, &m);
  f = eval_forget(&m, &s);
  report("ga forget", f0, f);
  CHECK(f.loss > f0.loss * 1.2);
  model_free(&m);

  // neggrad+
  unlearn_spec_defaults(&spec, UNLEARN_NEGGRAD_PLUS);
  spec.epochs = 1, spec.neggrad_plus.alpha = 0.9f;
  run(&s, &spec, &m);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("neggrad+ forget", f0, f);
  CHECK(f.loss > f0.loss * 1.5 && r.acc > r0.acc - 0.05);
  model_free(&m);

  // rl: forget predictions spread
  unlearn_spec_defaults(&spec, UNLEARN_RL);
  spec.epochs = 1;
  run(&s, &spec, &m);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("rl forget", f0, f);
  CHECK(f.entropy > f0.entropy + 0.3 && f.acc < f0.acc - 0.2 && r.acc > r0.acc - 0.05);
  Model rl;
  clone_model(&rl, &m, 0);
  model_free(&m);

  // salun: only masked parameters move
  unlearn_spec_defaults(&spec, UNLEARN_SALUN);
  spec.epochs = 1;
  run(&s, &spec, &m);
  {
    const int64_t np = m.n_param_floats;
    uint8_t *mask = malloc((size_t)np);
    salun_reference_mask(&s, spec.salun.q, mask);
    int64_t in_mask = 0, moved = 0, moved_outside = 0;
    for (int64_t i = 0; i < np; i++) {
      int same = memcmp(&m.param_mem[i], &s.orig.param_mem[i], sizeof(float)) == 0;
      in_mask += mask[i], moved += !same, moved_outside += !same && !mask[i];
    }
    printf("  salun: mask %lld of %lld params, %lld moved, %lld outside the mask\n",
           (long long)in_mask, (long long)np, (long long)moved, (long long)moved_outside);
    CHECK(moved_outside == 0);
    CHECK(llabs(in_mask - np / 2) <= 1);
    CHECK(moved > in_mask * 9 / 10);
    f = eval_forget(&m, &s);
    report("salun forget", f0, f);
    CHECK(f.acc < f0.acc - 0.1);
    // and it is not plain rl
    CHECK(memcmp(m.param_mem, rl.param_mem, (size_t)np * sizeof(float)) != 0);
    free(mask);
  }
  model_free(&m), model_free(&rl);

  // scrub: the max passes raise KL on the forget set
  unlearn_spec_defaults(&spec, UNLEARN_SCRUB);
  spec.epochs = 1, spec.scrub.max_epochs = 1, spec.lr = 0.01f;
  run(&s, &spec, &m);
  double kl_f = kl_on(&m, &s.orig, &s, s.fs.train_forget, s.fs.n_train_forget, 4);
  double kl_r = kl_on(&m, &s.orig, &s, s.fs.train_retain, 1000, 4);
  model_free(&m);
  spec.scrub.max_epochs = 0;
  run(&s, &spec, &m);
  double kl_f0 = kl_on(&m, &s.orig, &s, s.fs.train_forget, s.fs.n_train_forget, 4);
  printf("  scrub: KL forget %.4f (without max passes %.4f), KL retain %.4f\n", kl_f, kl_f0, kl_r);
  CHECK(kl_f > 3 * kl_f0 && kl_f > 2 * kl_r);
  model_free(&m);

  // bs: trained toward wrong labels
  unlearn_spec_defaults(&spec, UNLEARN_BS);
  spec.epochs = 2, spec.lr = 1e-3f;
  run(&s, &spec, &m);
  f = eval_forget(&m, &s);
  report("bs forget", f0, f);
  CHECK(f.acc < f0.acc - 0.3);
  model_free(&m);

  // cu: contrastive at the last features + retain CE
  unlearn_spec_defaults(&spec, UNLEARN_CU);  // its usual settings: lr 1e-3, 5 epochs
  run(&s, &spec, &m);
  f = eval_forget(&m, &s), r = eval_retain(&m, &s);
  report("cu forget", f0, f);
  report("cu retain", r0, r);
  CHECK(f.acc < f0.acc - 0.3 && r.acc > r0.acc - 0.05);
  // reproducible: the same seed gives the same model
  Model again;
  run(&s, &spec, &again);
  CHECK(memcmp(m.param_mem, again.param_mem, (size_t)m.n_param_floats * sizeof(float)) == 0);
  model_free(&m), model_free(&again);

  setting_free(&s);
  return test_finish("unlearn");
}
