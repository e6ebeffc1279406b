// test_ckpt.c: checkpoints. Save then load gives the same outputs bit for bit; a training run
// stopped after an epoch, saved, and resumed in fresh objects ends bit-identical to the run
// that never stopped; bad files are clear errors that name the file.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "ckpt.h"
#include "testutil.h"
#include "train.h"

typedef struct {
  Dataset d;
  ModelSpec ms;
} World;

static void setup(World *w) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 80, spec.synth.n_test = 16, spec.synth.h = spec.synth.w = 12;
  if (dataset_load(&w->d, &spec, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  w->ms = (ModelSpec){.arch = ARCH_CNN4,
                      .in_c = 1,
                      .in_h = 12,
                      .in_w = 12,
                      .num_classes = 10,
                      .batch_capacity = 16,
                      .width = 8};
}

// Trains epochs [from, to) of a fixed recipe; the model and optimiser carry the state.
static void train_epochs(World *w, Model *m, Sgd *opt, int from, int to) {
  Err e = {0};
  Batches b;
  Augment aug = {.crop_pad = 2, .hflip = 1};
  batches_init(&b, &w->d.train, w->d.mean, w->d.std, &aug, NULL, 0, 16, 5, MPI_COMM_NULL, &e);
  LossBuf lb;
  lossbuf_init(&lb, 16, 10, &e);
  LrSchedule sched = {.kind = SCHED_COSINE, .base_lr = 0.05f, .epochs = 3};
  for (int epoch = from; epoch < to; epoch++) {
    batches_start(&b, (uint64_t)epoch, 1, 0);
    int64_t steps = batches_per_epoch(&b);
    for (int s = 0; batches_next(&b); s++)
      train_step_ce(m, opt, lr_at(&sched, epoch, s, (int)steps), b.x, b.y, b.local_batch,
                    b.this_global, &lb);
  }
  lossbuf_free(&lb);
  batches_free(&b);
}

static void test_round_trip_and_resume(World *w, const char *dir) {
  Err e = {0};
  char path[512];
  snprintf(path, sizeof path, "%s/a.h5", dir);
  // Uninterrupted: 3 epochs.
  Model full;
  Sgd full_opt;
  model_create(&full, &w->ms, &e);
  model_init(&full, 3);
  sgd_init(&full_opt, full.n_param_floats, 0.9f, 5e-4f, 1, &e);
  train_epochs(w, &full, &full_opt, 0, 3);

  // Interrupted after epoch 1: save, drop everything, load into fresh objects, go on.
  Model part;
  Sgd part_opt;
  model_create(&part, &w->ms, &e);
  model_init(&part, 3);
  sgd_init(&part_opt, part.n_param_floats, 0.9f, 5e-4f, 1, &e);
  train_epochs(w, &part, &part_opt, 0, 1);
  CkptMeta meta = {.role = "original", .has_progress = 1, .seed = 3, .epoch = 1};
  meta.mean[0] = w->d.mean[0], meta.std[0] = w->d.std[0];
  CHECK(ckpt_save(path, &part, &meta, &part_opt, NULL, 0, &e) == 0);

  // Outputs of the saved and the loaded model agree bit for bit.
  Model loaded;
  Sgd loaded_opt;
  model_create(&loaded, &w->ms, &e);
  sgd_init(&loaded_opt, loaded.n_param_floats, 0.9f, 5e-4f, 1, &e);
  CkptMeta got;
  CHECK(ckpt_load(path, &loaded, &got, &loaded_opt, &e) == 0);
  CHECK(got.has_progress && got.epoch == 1 && got.seed == 3 && !strcmp(got.role, "original"));
  CHECK(got.mean[0] == w->d.mean[0] && got.std[0] == w->d.std[0]);
  CHECK(loaded_opt.steps == part_opt.steps);
  float x[16 * 144];
  int32_t idx[16], y[16];
  for (int i = 0; i < 16; i++) idx[i] = i;
  data_batch(x, y, &w->d.test, w->d.mean, w->d.std, idx, 16, NULL, 0, 0, NULL);
  model_forward(&part, x, 16, 0);
  model_forward(&loaded, x, 16, 0);
  CHECK(memcmp(model_logits(&part), model_logits(&loaded), 16 * 10 * sizeof(float)) == 0);
  model_free(&part);
  sgd_free(&part_opt);

  train_epochs(w, &loaded, &loaded_opt, 1, 3);
  CHECK(memcmp(full.param_mem, loaded.param_mem, (size_t)full.n_param_floats * 4) == 0);
  CHECK(memcmp(full.buffer_mem, loaded.buffer_mem, (size_t)full.n_buffer_floats * 4) == 0);
  CHECK(memcmp(full_opt.velocity, loaded_opt.velocity, (size_t)full.n_param_floats * 4) == 0);

  // Aux tensors.
  float aux[6] = {1, 2, 3, 4, 5, 6}, back[6] = {0};
  CkptTensor t = {.name = "head.weight", .data = aux, .ndim = 2, .shape = {2, 3}};
  CHECK(ckpt_save(path, &loaded, &meta, NULL, &t, 1, &e) == 0);
  CHECK(ckpt_load_aux(path, "head.weight", back, 6, &e) == 0);
  CHECK(memcmp(aux, back, sizeof aux) == 0);
  CHECK(ckpt_load_aux(path, "head.weight", back, 5, &e) != 0);
  char arch[16];
  int classes, shape[3];
  CHECK(ckpt_peek(path, arch, sizeof arch, &classes, shape, NULL, &e) == 0);
  CHECK(!strcmp(arch, "cnn4") && classes == 10 && shape[0] == 1 && shape[1] == 12);
  model_free(&full), model_free(&loaded);
  sgd_free(&full_opt), sgd_free(&loaded_opt);
}

// model_fingerprint: the same for a model and its checkpoint loaded back, different when one
// parameter or one BN buffer value changes, and equal to the recipe of solver/fingerprint.c
// computed by Python's hashlib from the checkpoint's /params alone.
static void test_fingerprint(World *w, const char *dir) {
  Err e = {0};
  char path[512], fp[MODEL_FINGERPRINT_LEN], back[MODEL_FINGERPRINT_LEN],
      other[MODEL_FINGERPRINT_LEN];
  snprintf(path, sizeof path, "%s/fp.h5", dir);
  Model m, loaded;
  model_create(&m, &w->ms, &e);
  model_init(&m, 11);
  for (int64_t i = 0; i < m.n_buffer_floats; i++) m.buffer_mem[i] += 0.001f * (float)(i % 7);
  CHECK(model_fingerprint(&m, fp, &e) == 0 && strlen(fp) == 16);
  CkptMeta meta = {.role = "original"};
  CHECK(ckpt_save(path, &m, &meta, NULL, NULL, 0, &e) == 0);
  model_create(&loaded, &w->ms, &e);
  CHECK(ckpt_load(path, &loaded, NULL, NULL, &e) == 0);
  CHECK(model_fingerprint(&loaded, back, &e) == 0 && !strcmp(fp, back));

  float *last = &loaded.param_mem[loaded.n_param_floats - 1];
  *last = nextafterf(*last, INFINITY);  // one ulp of one parameter
  CHECK(model_fingerprint(&loaded, other, &e) == 0 && strcmp(other, fp));
  *last = nextafterf(*last, -INFINITY);
  loaded.buffer_mem[0] += 1;  // a BN running mean
  CHECK(model_fingerprint(&loaded, other, &e) == 0 && strcmp(other, fp));

  if (access("/usr/bin/python3", X_OK) != 0) {
    printf("SKIP fingerprint against hashlib: no /usr/bin/python3\n");
  } else {
    char cmd[1024], got[64] = "";
    snprintf(
        cmd, sizeof cmd,
        "/usr/bin/python3 -c 'import sys, hashlib, h5py\n"
        "h = hashlib.sha256()\n"
        "with h5py.File(sys.argv[1]) as f:\n"
        "    for k in sorted(f[\"params\"]):\n"
        "        h.update(k.encode() + b\"\\0\" + f[\"params\"][k][()].astype(\"<f4\").tobytes())\n"
        "print(h.hexdigest()[:16])' '%s'",
        path);
    FILE *py = popen(cmd, "r");
    CHECK(py && fgets(got, sizeof got, py));
    if (py) pclose(py);
    got[strcspn(got, "\n")] = '\0';
    CHECK(!strcmp(got, fp));
    if (strcmp(got, fp)) fprintf(stderr, "fingerprint %s, hashlib %s\n", fp, got);
  }
  model_free(&m), model_free(&loaded);
}

static void expect_error(int rc, const Err *e, const char *needle1, const char *needle2) {
  CHECK(rc != 0);
  if (rc && (!strstr(e->msg, needle1) || (needle2 && !strstr(e->msg, needle2)))) {
    fprintf(stderr, "unexpected message: %s (wanted '%s' and '%s')\n", e->msg, needle1,
            needle2 ? needle2 : "");
    test_failures++;
  }
}

static void test_bad_files(World *w, const char *dir) {
  Err e = {0};
  Model m;
  model_create(&m, &w->ms, &e);
  model_init(&m, 1);
  char path[512], bad[512];
  snprintf(path, sizeof path, "%s/good.h5", dir);
  CkptMeta meta = {.role = "original"};
  CHECK(ckpt_save(path, &m, &meta, NULL, NULL, 0, &e) == 0);

  snprintf(bad, sizeof bad, "%s/missing.h5", dir);
  expect_error(ckpt_load(bad, &m, NULL, NULL, &e), &e, bad, "no such file");

  // Truncated: the first half of a good file.
  FILE *in = fopen(path, "rb");
  fseek(in, 0, SEEK_END);
  long size = ftell(in);
  fseek(in, 0, SEEK_SET);
  char *buf = malloc((size_t)size);
  CHECK(fread(buf, 1, (size_t)size, in) == (size_t)size);
  fclose(in);
  snprintf(bad, sizeof bad, "%s/truncated.h5", dir);
  FILE *out = fopen(bad, "wb");
  fwrite(buf, 1, (size_t)size / 2, out);
  fclose(out);
  expect_error(ckpt_load(bad, &m, NULL, NULL, &e), &e, bad, NULL);
  // Not HDF5 at all.
  snprintf(bad, sizeof bad, "%s/text.h5", dir);
  out = fopen(bad, "wb");
  fputs("hello\n", out);
  fclose(out);
  expect_error(ckpt_load(bad, &m, NULL, NULL, &e), &e, bad, "not an HDF5 file");
  // Written in the 1.8 format, whose structure is checksummed: one byte of the root group's
  // object header flipped is an error, not a crash (the 1.6 format has no checksum there).
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  H5F_info2_t fi;
  H5O_info_t oi;
  CHECK(f >= 0 && H5Fget_info2(f, &fi) >= 0 && fi.super.version >= 2);
  CHECK(H5Oget_info(f, &oi) >= 0 && oi.hdr.version == 2);
  H5Fclose(f);
  for (int at = 8; at < 40; at += 7) {
    snprintf(bad, sizeof bad, "%s/flipped%d.h5", dir, at);
    out = fopen(bad, "wb");
    buf[oi.addr + at] ^= 0x5a;
    fwrite(buf, 1, (size_t)size, out);
    buf[oi.addr + at] ^= 0x5a;
    fclose(out);
    expect_error(ckpt_load(bad, &m, NULL, NULL, &e), &e, bad, NULL);
  }
  free(buf);

  // Wrong architecture / classes.
  ModelSpec other = w->ms;
  other.num_classes = 5;
  Model m5;
  model_create(&m5, &other, &e);
  expect_error(ckpt_load(path, &m5, NULL, NULL, &e), &e, path, "10 classes");
  model_free(&m5);
  // Wrong width: same arch and classes, other shapes.
  other = w->ms;
  other.width = 4;
  model_create(&m5, &other, &e);
  expect_error(ckpt_load(path, &m5, NULL, NULL, &e), &e, path, "wrong shape");
  model_free(&m5);
  // No optimiser state to resume from.
  Sgd opt;
  sgd_init(&opt, m.n_param_floats, 0.9f, 0, 0, &e);
  expect_error(ckpt_load(path, &m, NULL, &opt, &e), &e, path, "optimiser");
  sgd_free(&opt);
  // Saving into a folder that does not exist fails and leaves nothing behind.
  snprintf(bad, sizeof bad, "%s/nope/x.h5", dir);
  expect_error(ckpt_save(bad, &m, &meta, NULL, NULL, 0, &e), &e, "nope", NULL);
  model_free(&m);
}

// Replaces the file's root attribute `name` by the string s in one of HDF5's string forms:
// 0 fixed NUL-terminated ASCII (ecore's), 1 fixed NUL-padded without terminator (numpy's
// bytes_), 2 variable-length UTF-8 (h5py's str).
static void rewrite_string_attr(const char *path, const char *name, const char *s, int form) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Adelete(f, name);
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  if (form == 2) {
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
  } else {
    H5Tset_size(t, strlen(s) + (form == 0));
    if (form == 1) H5Tset_strpad(t, H5T_STR_NULLPAD);
  }
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(a >= 0 && (form == 2 ? H5Awrite(a, t, &s) : H5Awrite(a, t, s)) >= 0);
  H5Aclose(a), H5Sclose(sp), H5Tclose(t), H5Fclose(f);
}

// Checkpoints written elsewhere (h5py, numpy) store their string attributes in other forms:
// every one of them reads back the same.
static void test_string_forms(World *w, const char *dir) {
  Err e = {0};
  Model m;
  model_create(&m, &w->ms, &e);
  model_init(&m, 1);
  char path[512];
  snprintf(path, sizeof path, "%s/strings.h5", dir);
  CkptMeta meta = {.role = "original"};
  CHECK(ckpt_save(path, &m, &meta, NULL, NULL, 0, &e) == 0);
  for (int form = 0; form < 3; form++) {
    rewrite_string_attr(path, "arch", arch_name(w->ms.arch), form);
    rewrite_string_attr(path, "run_id", "abc123", form);
    char arch[32] = "";
    int classes = 0, shape[3];
    CHECK(ckpt_peek(path, arch, sizeof arch, &classes, shape, NULL, &e) == 0);
    CHECK(!strcmp(arch, arch_name(w->ms.arch)) && classes == w->ms.num_classes);
    CkptMeta got = {0};
    CHECK(ckpt_load(path, &m, &got, NULL, &e) == 0);
    CHECK(!strcmp(got.run_id, "abc123") && !strcmp(got.role, "original"));
    if (e.msg[0]) fprintf(stderr, "string form %d: %s\n", form, e.msg);
  }
  model_free(&m);
}

// Rewrites /params/<name> of a checkpoint with the same values stored as `type`.
static void rewrite_param_type(const char *path, const char *name, hid_t type, const float *v,
                               int n) {
  char full[128];
  snprintf(full, sizeof full, "params/%s", name);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t ds = H5Dopen2(f, full, H5P_DEFAULT), sp = H5Dget_space(ds);
  H5Dclose(ds);
  H5Ldelete(f, full, H5P_DEFAULT);
  ds = H5Dcreate2(f, full, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  double *d = malloc((size_t)n * sizeof(double));
  for (int i = 0; i < n; i++) d[i] = v[i];
  CHECK(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d) >= 0);
  free(d);
  H5Dclose(ds), H5Sclose(sp), H5Fclose(f);
}

// Parameters stored as 64-bit floats (h5py's default for float arrays) load as the same
// values; stored as integers they are refused before HDF5 converts them.
static void test_stored_types(World *w, const char *dir) {
  Err e = {0};
  Model m, back;
  model_create(&m, &w->ms, &e);
  model_create(&back, &w->ms, &e);
  model_init(&m, 2);
  char path[512];
  snprintf(path, sizeof path, "%s/types.h5", dir);
  CkptMeta meta = {.role = "original"};
  CHECK(ckpt_save(path, &m, &meta, NULL, NULL, 0, &e) == 0);
  const ParamInfo *p = &m.params[0];
  const float *v = model_param_data(&m, 0);
  rewrite_param_type(path, p->name, H5T_IEEE_F64BE, v, (int)p->size);
  CHECK(ckpt_load(path, &back, NULL, NULL, &e) == 0);
  CHECK(memcmp(back.param_mem, m.param_mem, (size_t)m.n_param_floats * sizeof(float)) == 0);
  rewrite_param_type(path, p->name, H5T_STD_I32LE, v, (int)p->size);
  expect_error(ckpt_load(path, &back, NULL, NULL, &e), &e, p->name,
               "is not stored as 32- or 64-bit floats");
  model_free(&m), model_free(&back);
}

// The resnets' stem is recorded: a file read back names it, a model of the other stem refuses
// it with a message naming both, a file without the attribute (written before stems existed)
// holds the CIFAR stem, and an unknown name is an error. mlp and cnn4 take no ImageNet stem.
static void test_stem(const char *dir) {
  Err e = {0};
  ModelSpec s = {.arch = ARCH_RESNET18,
                 .in_c = 3,
                 .in_h = 16,
                 .in_w = 16,
                 .num_classes = 4,
                 .batch_capacity = 2,
                 .width = 4,
                 .stem = STEM_IMAGENET};
  Model in, cif;
  CHECK(model_create(&in, &s, &e) == 0);
  s.stem = STEM_CIFAR;
  CHECK(model_create(&cif, &s, &e) == 0);
  model_init(&in, 1), model_init(&cif, 1);
  char path[512], arch[32];
  int classes, shape[3];
  Stem stem = STEM_COUNT;
  snprintf(path, sizeof path, "%s/stem.h5", dir);
  CkptMeta meta = {.role = "original"};
  CHECK(ckpt_save(path, &in, &meta, NULL, NULL, 0, &e) == 0);
  CHECK(ckpt_peek(path, arch, sizeof arch, &classes, shape, &stem, &e) == 0);
  CHECK(stem == STEM_IMAGENET);
  CHECK(ckpt_load(path, &in, NULL, NULL, &e) == 0);
  expect_error(ckpt_load(path, &cif, NULL, NULL, &e), &e, "with the imagenet stem",
               "expected the cifar stem");
  rewrite_string_attr(path, "stem", "vit", 0);
  expect_error(ckpt_load(path, &in, NULL, NULL, &e), &e, path, "'vit'");
  // An old file: no stem attribute.
  CHECK(ckpt_save(path, &cif, &meta, NULL, NULL, 0, &e) == 0);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CHECK(H5Adelete(f, "stem") >= 0);
  H5Fclose(f);
  CHECK(ckpt_peek(path, arch, sizeof arch, &classes, shape, &stem, &e) == 0);
  CHECK(stem == STEM_CIFAR);
  CHECK(ckpt_load(path, &cif, NULL, NULL, &e) == 0);
  expect_error(ckpt_load(path, &in, NULL, NULL, &e), &e, "with the cifar stem",
               "expected the imagenet stem");
  model_free(&in), model_free(&cif);
  Model m;
  s.arch = ARCH_CNN4, s.stem = STEM_IMAGENET;
  expect_error(model_create(&m, &s, &e), &e, "cnn4 has no imagenet stem", NULL);
}

int main(void) {
  char dir[] = "/tmp/ecore_ckpt_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  World w;
  setup(&w);
  test_round_trip_and_resume(&w, dir);
  test_bad_files(&w, dir);
  test_string_forms(&w, dir);
  test_stored_types(&w, dir);
  test_fingerprint(&w, dir);
  test_stem(dir);
  dataset_free(&w.d);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_finish("ckpt");
}
