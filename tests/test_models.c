// test_models.c: whole models against PyTorch (fixtures written by tests/make_fixtures.py).
// For each fixture: the same weights and input give the same train-mode logits, loss, BN
// running statistics, supervision-point activations, every parameter gradient, the input
// gradient, eval-mode logits, and parameters after two SGD steps; all within 1e-4 of the
// reference, relative to the largest magnitude of each tensor (gradients: the fixture's grad_tol
// when it has one, see make_fixtures.py).
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "optim.h"
#include "testutil.h"

static float *read_all(hid_t f, const char *name, int64_t *count) {
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  hid_t sp = H5Dget_space(ds);
  int64_t n = H5Sget_simple_extent_npoints(sp);
  float *d = malloc((size_t)(n ? n : 1) * sizeof(float));
  H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d);
  H5Sclose(sp), H5Dclose(ds);
  if (count) *count = n;
  return d;
}

// A string attribute, fixed-length or variable (h5py writes str as variable-length UTF-8).
static void read_attr_string(hid_t f, const char *name, char *out, size_t len) {
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
  if (H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    H5Aread(a, mt, &s);
    snprintf(out, len, "%s", s);
    H5free_memory(s);
  } else {
    H5Aread(a, mt, out);
  }
  H5Tclose(mt), H5Tclose(t), H5Aclose(a);
}

static int read_attr_int(hid_t f, const char *name, int *v, int n) {
  if (H5Aexists(f, name) <= 0) return -1;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  if (a < 0) return -1;
  (void)n;
  H5Aread(a, H5T_NATIVE_INT, v);
  H5Aclose(a);
  return 0;
}

// max |got - want| <= tol * max |want| (tensor-relative), reported with the tensor's name.
static double rel_err(const float *got, const float *want, int64_t n) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < n; i++) {
    if (fabs(want[i]) > scale) scale = fabs(want[i]);
    if (fabs(got[i] - want[i]) > diff) diff = fabs(got[i] - (double)want[i]);
  }
  return scale > 0 ? diff / scale : diff;
}

static void check_tensor(const char *fixture, const char *what, const float *got, const float *want,
                         int64_t n, double tol) {
  if (!want) {
    fprintf(stderr, "%s: %s missing from the fixture\n", fixture, what);
    test_failures++;
    return;
  }
  double r = rel_err(got, want, n);
  if (!(r <= tol)) {
    fprintf(stderr, "%s: %s differs from PyTorch: relative error %.3g > %.1g\n", fixture, what, r,
            tol);
    test_failures++;
  }
}

static const double TOL = 1e-4;

// ecore's swin_t at the real configuration (224x224, width 96, patch 4, window 7, 1000 classes)
// has exactly the keys and shapes of torchvision's swin_t() state_dict, stored by
// make_fixtures.py in /swin_t_shapes, but its relative_position_index buffers (ecore derives
// them from the window).
static void check_swin_t_shapes(hid_t f, const char *path) {
  ModelSpec spec = {.arch = ARCH_SWIN_T,
                    .in_c = 3,
                    .in_h = 224,
                    .in_w = 224,
                    .num_classes = 1000,
                    .batch_capacity = 1};
  Model m;
  Err e = {0};
  if (model_create(&m, &spec, &e)) {
    fprintf(stderr, "%s: swin_t at 224: %s\n", path, e.msg);
    test_failures++;
    return;
  }
  hid_t g = H5Gopen2(f, "swin_t_shapes", H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(g, &info);
  int matched = 0;
  int64_t floats = 0;
  for (hsize_t i = 0; i < info.nlinks; i++) {
    char key[160];
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, key, sizeof key, H5P_DEFAULT);
    if (strstr(key, "relative_position_index")) continue;
    int p = model_find_param(&m, key);
    if (p < 0) {
      fprintf(stderr, "%s: torchvision's swin_t key %s missing from ecore's\n", path, key);
      test_failures++;
      continue;
    }
    int dims[4] = {0}, nd = 0;
    hid_t ds = H5Dopen2(g, key, H5P_DEFAULT), sp = H5Dget_space(ds);
    nd = (int)H5Sget_simple_extent_npoints(sp);
    H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dims);
    H5Sclose(sp), H5Dclose(ds);
    int same = nd == m.params[p].ndim;
    for (int d = 0; same && d < nd; d++) same = dims[d] == m.params[p].shape[d];
    if (!same) {
      fprintf(stderr, "%s: swin_t %s has another shape than torchvision's\n", path, key);
      test_failures++;
    }
    matched++;
    floats += m.params[p].size;
  }
  H5Gclose(g);
  CHECK(matched == m.n_params);
  CHECK(floats == m.n_param_floats + m.n_buffer_floats);
  printf("%s: swin_t at 224x224: %d tensors, %lld parameters, as torchvision's\n", path, matched,
         (long long)floats);
  model_free(&m);
}

static void check_fixture(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "%s: cannot open fixture\n", path);
    test_failures++;
    return;
  }
  char arch[32] = "", stem[32] = "cifar";  // fixtures without a stem attribute: cifar
  read_attr_string(f, "arch", arch, sizeof arch);
  if (H5Aexists(f, "stem") > 0) read_attr_string(f, "stem", stem, sizeof stem);
  int width = 0, classes = 0, batch = 0, shape[3], patch = 0, window = 0;
  read_attr_int(f, "width", &width, 1);
  read_attr_int(f, "patch", &patch, 1);  // swin_t's knobs (absent: 0, the default)
  read_attr_int(f, "window", &window, 1);
  read_attr_int(f, "num_classes", &classes, 1);
  read_attr_int(f, "batch", &batch, 1);
  read_attr_int(f, "input_shape", shape, 3);
  // Gradients: 1e-4, or the fixture's grad_tol where PyTorch's own float32 is further off.
  double grad_tol = TOL;
  if (H5Aexists(f, "grad_tol") > 0) {
    hid_t ga = H5Aopen(f, "grad_tol", H5P_DEFAULT);
    H5Aread(ga, H5T_NATIVE_DOUBLE, &grad_tol);
    H5Aclose(ga);
    printf("%s: gradients to %.2g (PyTorch's float32 is %.2g off its float64)\n", path, grad_tol,
           grad_tol / 2);
  }

  ModelSpec spec = {.arch = arch_from_name(arch),
                    .in_c = shape[0],
                    .in_h = shape[1],
                    .in_w = shape[2],
                    .num_classes = classes,
                    .batch_capacity = batch,
                    .width = width,
                    .patch = patch,
                    .window = window,
                    .stem = stem_from_name(stem)};
  Model m;
  Err e = {0};
  if (model_create(&m, &spec, &e)) {
    fprintf(stderr, "%s: %s\n", path, e.msg);
    test_failures++;
    H5Fclose(f);
    return;
  }
  if (H5Lexists(f, "swin_t_shapes", H5P_DEFAULT) > 0) check_swin_t_shapes(f, path);
  char name[160];
  // Every state_dict key must be there, with the same number of values.
  for (int i = 0; i < m.n_params; i++) {
    snprintf(name, sizeof name, "params/%s", m.params[i].name);
    int64_t n = 0;
    float *d = read_all(f, name, &n);
    CHECK(d != NULL);
    if (!d) continue;
    CHECK(n == m.params[i].size);
    if (n == m.params[i].size) memcpy(model_param_data(&m, i), d, (size_t)n * sizeof(float));
    free(d);
  }
  // Parameter count: the fixture holds exactly our keys (no more).
  hsize_t n_fixture = 0;
  hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
  H5Gget_num_objs(g, &n_fixture);
  H5Gclose(g);
  CHECK((int)n_fixture == m.n_params);

  int64_t nin = 0;
  float *x = read_all(f, "input", &nin);
  float *lab = read_all(f, "labels", NULL);  // stored int32; read as float, converted below
  int32_t *y = malloc((size_t)batch * sizeof(int32_t));
  for (int i = 0; i < batch; i++) y[i] = (int32_t)lab[i];

  // Train-mode forward: logits, loss, running stats, points.
  model_forward(&m, x, batch, 1);
  float *want = read_all(f, "logits", NULL);
  check_tensor(path, "logits", model_logits(&m), want, (int64_t)batch * classes, TOL);
  free(want);
  float *probs = malloc((size_t)batch * classes * sizeof(float));
  float *dlogits = calloc((size_t)batch * classes, sizeof(float));
  double loss = softmax_xent_forward(probs, model_logits(&m), y, batch, classes) / batch;
  float *wl = read_all(f, "loss", NULL);
  CHECK(wl != NULL);
  if (wl) CHECK_CLOSE(loss, wl[0], TOL, 0);
  free(wl);
  for (int l = 0; l < m.n_points; l++) {
    int h, w, c;
    const float *p = model_point(&m, l, &h, &w, &c);
    float *nchw = malloc((size_t)batch * h * w * c * sizeof(float));
    if (spec.arch == ARCH_MLP)
      memcpy(nchw, p, (size_t)batch * c * sizeof(float));
    else
      nhwc_to_nchw(nchw, p, batch, c, h, w);
    snprintf(name, sizeof name, "points/%s", m.point_names[l]);
    int64_t n = 0;
    want = read_all(f, name, &n);
    CHECK(want && n == (int64_t)batch * h * w * c);
    if (want && n == (int64_t)batch * h * w * c) check_tensor(path, name, nchw, want, n, TOL);
    free(want), free(nchw);
  }
  for (int i = 0; i < m.n_params; i++) {
    if (!m.params[i].is_buffer) continue;
    snprintf(name, sizeof name, "running/%s", m.params[i].name);
    want = read_all(f, name, NULL);
    check_tensor(path, name, model_param_data(&m, i), want, m.params[i].size, TOL);
    free(want);
  }

  // Backward: every parameter gradient and the input gradient.
  softmax_xent_backward(dlogits, probs, y, batch, classes, 1.0f / batch);
  float *dx = malloc((size_t)nin * sizeof(float));
  model_zero_grads(&m);
  model_backward(&m, dlogits, NULL, dx);
  for (int i = 0; i < m.n_params; i++) {
    if (m.params[i].is_buffer) continue;
    snprintf(name, sizeof name, "grads/%s", m.params[i].name);
    want = read_all(f, name, NULL);
    check_tensor(path, name, m.grad_mem + m.params[i].offset, want, m.params[i].size, grad_tol);
    free(want);
  }
  want = read_all(f, "dinput", NULL);
  check_tensor(path, "dinput", dx, want, nin, grad_tol);
  free(want);

  // Eval mode uses the running statistics just updated.
  model_forward(&m, x, batch, 0);
  want = read_all(f, "eval_logits", NULL);
  check_tensor(path, "eval_logits", model_logits(&m), want, (int64_t)batch * classes, TOL);
  free(want);

  // Two SGD steps (nesterov, wd) from the initial parameters, on the same batch, where the
  // fixture has them (make_fixtures.py says which and why).
  if (H5Lexists(f, "sgd", H5P_DEFAULT) <= 0) {
    printf("%s: no /sgd in this fixture, SGD compared on the others\n", path);
    goto done;
  }
  for (int i = 0; i < m.n_params; i++) {
    snprintf(name, sizeof name, "params/%s", m.params[i].name);
    float *d = read_all(f, name, NULL);
    memcpy(model_param_data(&m, i), d, (size_t)m.params[i].size * sizeof(float));
    free(d);
  }
  Sgd opt;
  CHECK(sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 1, &e) == 0);
  for (int step = 0; step < 2; step++) {
    model_forward(&m, x, batch, 1);
    softmax_xent_forward(probs, model_logits(&m), y, batch, classes);
    memset(dlogits, 0, (size_t)batch * classes * sizeof(float));
    softmax_xent_backward(dlogits, probs, y, batch, classes, 1.0f / batch);
    model_zero_grads(&m);
    model_backward(&m, dlogits, NULL, NULL);
    sgd_step(&opt, m.param_mem, m.grad_mem, 0.01f, NULL);
  }
  for (int i = 0; i < m.n_params; i++) {
    if (m.params[i].is_buffer) continue;
    snprintf(name, sizeof name, "sgd/%s", m.params[i].name);
    want = read_all(f, name, NULL);
    check_tensor(path, name, model_param_data(&m, i), want, m.params[i].size, TOL);
    free(want);
  }
  sgd_free(&opt);
done:
  free(x), free(lab), free(y), free(probs), free(dlogits), free(dx);
  model_free(&m);
  H5Fclose(f);
  printf("%s: compared\n", path);
}

// swin_t's model_init is torchvision's: Linear weights and the position bias tables of std 0.02
// (truncated at ±2: never reached), Linear biases 0, LayerNorm 1 and 0, the patch embedding
// U(±1/sqrt(fan_in)) for weight and bias.
static void check_swin_init(void) {
  ModelSpec spec = {.arch = ARCH_SWIN_T,
                    .in_c = 3,
                    .in_h = 32,
                    .in_w = 32,
                    .num_classes = 10,
                    .batch_capacity = 1,
                    .width = 24,
                    .patch = 2,
                    .window = 4};
  Model m;
  Err e = {0};
  if (model_create(&m, &spec, &e)) {
    fprintf(stderr, "swin_t init: %s\n", e.msg);
    test_failures++;
    return;
  }
  model_init(&m, 7);
  double sum2[2] = {0, 0};  // Σ x² of the linear weights, of the tables
  int64_t count[2] = {0, 0};
  for (int i = 0; i < m.n_params; i++) {
    const ParamInfo *p = &m.params[i];
    const float *d = model_param_data(&m, i);
    for (int64_t j = 0; j < p->size; j++) {
      if (p->kind == PARAM_LINEAR_W || p->kind == PARAM_RELPOS) {
        int t = p->kind == PARAM_RELPOS;
        sum2[t] += (double)d[j] * d[j], count[t]++;
      } else if (p->kind == PARAM_LINEAR_B || p->kind == PARAM_LN_B) {
        CHECK(d[j] == 0.0f);
      } else if (p->kind == PARAM_LN_W) {
        CHECK(d[j] == 1.0f);
      } else {  // the patch embedding: fan_in 3*2*2
        CHECK(fabsf(d[j]) <= 1.0f / sqrtf(12.0f));
      }
    }
  }
  CHECK_CLOSE(sqrt(sum2[0] / count[0]), 0.02, 0.02, 0);  // ~1.5 M draws
  CHECK_CLOSE(sqrt(sum2[1] / count[1]), 0.02, 0.05, 0);  // 49 x 90 draws
  model_free(&m);
}

// Every architecture's builder names its supervision points as arch_points says (the config
// checks model.points against that list).
static void check_point_names(void) {
  for (int a = 0; a < ARCH_COUNT; a++) {
    ModelSpec spec = {.arch = a,
                      .in_c = 3,
                      .in_h = 32,
                      .in_w = 32,
                      .num_classes = 10,
                      .batch_capacity = 2,
                      .width = a == ARCH_SWIN_T ? 12 : 4};  // swin_t: heads 3-6-12-24
    Model m;
    Err e = {0};
    if (model_create(&m, &spec, &e)) {
      fprintf(stderr, "%s: %s\n", arch_name(a), e.msg);
      test_failures++;
      continue;
    }
    const char *const *names = arch_points(a);
    int n = 0;
    while (names[n]) n++;
    CHECK(n == m.n_points);
    for (int i = 0; i < n && i < m.n_points; i++) CHECK(!strcmp(names[i], m.point_names[i]));
    model_free(&m);
  }
}

// Shapes past the limits (as a damaged checkpoint declares them) are refused before any
// allocation, naming the shape.
static void check_shape_limits(void) {
  const ModelSpec ok = {.arch = ARCH_CNN4,
                        .in_c = 1,
                        .in_h = 8,
                        .in_w = 8,
                        .num_classes = 10,
                        .batch_capacity = 2,
                        .width = 4};
  ModelSpec bad[3] = {ok, ok, ok};
  bad[0].num_classes = MODEL_MAX_CLASSES + 1;
  bad[1].in_h = MODEL_MAX_SIDE + 1;
  bad[2].in_c = MODEL_MAX_CHANNELS + 1;
  for (int i = 0; i < 3; i++) {
    Model m;
    Err e = {0};
    CHECK(model_create(&m, &bad[i], &e) == ERR_CONFIG && strstr(e.msg, "bad shape"));
  }
  Model m;
  Err e = {0};
  CHECK(model_create(&m, &ok, &e) == 0);
  model_free(&m);
}

int main(int argc, char **argv) {
  check_point_names();
  check_shape_limits();
  check_swin_init();
  if (argc < 2) {
    fprintf(stderr, "usage: test_models FIXTURE.h5...\n");
    return 2;
  }
  for (int i = 1; i < argc; i++) check_fixture(argv[i]);
  return test_finish("models");
}
