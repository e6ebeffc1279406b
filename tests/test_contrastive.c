// test_contrastive.c: EC's contrastive loss (jobs/contrastive.c), forward and backward,
// 1. against a PyTorch reference (tests/fixtures/contrastive.h5, tests/make_contrastive_fixture.py)
//    to 1e-5, relative to each tensor's largest magnitude: the cu variant on mixed labels, the
//    class-wise case (every N(i) empty), τ = 0.05 and τ = 5, anchors without positives,
//    forget_only, push_original, and the SupCon form used in pretraining;
// 2. against central finite differences of an independent double-precision reference, with the
//    max shift held constant (the loss takes no gradient through it), for the same kinds of cases.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"
#include "rng.h"
#include "testutil.h"

// ---------------------------------------------------------------------------------------------
// the PyTorch fixture

static void *read_ds(hid_t g, const char *name, hid_t type, size_t elem, int64_t *count) {
  if (H5Lexists(g, name, H5P_DEFAULT) <= 0) return NULL;
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  int64_t n = H5Sget_simple_extent_npoints(sp);
  void *d = malloc((size_t)(n ? n : 1) * elem);
  H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, d);
  H5Sclose(sp), H5Dclose(ds);
  if (count) *count = n;
  return d;
}

static double attr_double(hid_t g, const char *name) {  // 0 when the attribute is absent
  double v = 0;
  if (H5Aexists(g, name) <= 0) return 0;
  hid_t a = H5Aopen(g, name, H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  return v;
}

// max |got - want| / max |want|
static double rel_err(const float *got, const float *want, int64_t n) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < n; i++) {
    if (fabs(want[i]) > scale) scale = fabs(want[i]);
    if (fabs((double)got[i] - want[i]) > diff) diff = fabs((double)got[i] - want[i]);
  }
  return scale > 0 ? diff / scale : diff;
}

static void check_case(hid_t f, const char *name) {
  hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
  CHECK(g >= 0);
  if (g < 0) return;
  int64_t nza = 0, na = 1, nzc = 0, nc = 0;
  float *za = read_ds(g, "za", H5T_NATIVE_FLOAT, sizeof(float), &nza);
  int32_t *ya = read_ds(g, "ya", H5T_NATIVE_INT32, sizeof(int32_t), &na);
  float *zc = read_ds(g, "zc", H5T_NATIVE_FLOAT, sizeof(float), &nzc);
  int32_t *yc = read_ds(g, "yc", H5T_NATIVE_INT32, sizeof(int32_t), &nc);
  float *zo = read_ds(g, "zo", H5T_NATIVE_FLOAT, sizeof(float), NULL);
  float *dza_ref = read_ds(g, "dza", H5T_NATIVE_FLOAT, sizeof(float), NULL);
  float *dzc_ref = read_ds(g, "dzc", H5T_NATIVE_FLOAT, sizeof(float), NULL);
  double *loss_ref = read_ds(g, "loss", H5T_NATIVE_DOUBLE, sizeof(double), NULL);
  ContrastiveSpec cs = {.tau = (float)attr_double(g, "tau"),
                        .eps = (float)attr_double(g, "eps"),
                        .pos_same_class = (int)attr_double(g, "pos_same_class"),
                        .neg_all = (int)attr_double(g, "neg_all"),
                        .exclude_self = (int)attr_double(g, "exclude_self"),
                        .pos_lse = (int)attr_double(g, "pos_lse")};
  const int D = (int)(nza / na);
  if (cs.exclude_self) zc = za, yc = ya, nc = na, nzc = nza;
  float *dza = calloc((size_t)nza, sizeof(float));
  float *dzc = cs.exclude_self ? dza : calloc((size_t)nzc, sizeof(float));
  double loss = 0;
  Err e = {0};
  CHECK(contrastive_loss(za, ya, (int)na, zc, yc, (int)nc, zo, D, &cs, 1.0f, &loss, dza, dzc, NULL,
                         &e) == 0);
  double ea = rel_err(dza, dza_ref, nza), ec = cs.exclude_self ? 0 : rel_err(dzc, dzc_ref, nzc);
  printf("fixture %-24s tau %-5g loss %.6f (torch %.6f), grad rel err %.2g / %.2g\n", name, cs.tau,
         loss, *loss_ref, ea, ec);
  CHECK_CLOSE(loss, *loss_ref, 1e-5, 1e-7);
  CHECK(ea <= 1e-5);
  CHECK(ec <= 1e-5);
  free(za), free(ya), free(zo), free(dza_ref), free(dzc_ref), free(loss_ref), free(dza);
  if (!cs.exclude_self) free(zc), free(yc), free(dzc);
  H5Gclose(g);
}

// ---------------------------------------------------------------------------------------------
// finite differences of an independent reference

typedef struct {
  int na, nc, D;
  const int32_t *ya, *yc;
  const ContrastiveSpec *cs;
  int self;    // candidates are the anchors
  double *m;   // [na] the max shifts, fixed after the first evaluation
  int freeze;  // use m as given
} Ref;

// L in double, straight from the formula; z = [anchors; candidates] (or anchors only), zo [na,D].
static double ref_loss(Ref *r, const double *z, const double *zo) {
  const int D = r->D;
  const double *za = z, *zc = r->self ? z : z + (size_t)r->na * D;
  double total = 0;
  int valid = 0;
  for (int i = 0; i < r->na; i++) {
    double s[256], so = 0;
    int npos = 0;
    double m = -1e300;
    for (int j = 0; j < r->nc; j++) {
      s[j] = 0;
      for (int t = 0; t < D; t++) s[j] += za[i * D + t] * zc[j * D + t];
      s[j] /= r->cs->tau;
      if (r->cs->exclude_self && j == i) continue;
      if (s[j] > m) m = s[j];
      npos += (r->ya[i] == r->yc[j]) == (r->cs->pos_same_class != 0);
    }
    if (zo) {
      for (int t = 0; t < D; t++) so += za[i * D + t] * zo[i * D + t];
      so /= r->cs->tau;
      if (so > m) m = so;
    }
    if (r->freeze)
      m = r->m[i];
    else
      r->m[i] = m;
    if (!npos) continue;
    valid++;
    double pos = 0, pos_exp = 0, neg = 0;
    int nneg = 0;
    for (int j = 0; j < r->nc; j++) {
      if (r->cs->exclude_self && j == i) continue;
      int p = (r->ya[i] == r->yc[j]) == (r->cs->pos_same_class != 0);
      if (p) pos += s[j] - m, pos_exp += exp(s[j] - m);
      if (r->cs->neg_all || !p) neg += exp(s[j] - m), nneg++;
    }
    if (zo) neg += exp(so - m), nneg++;
    const double pull = r->cs->pos_lse ? -log(pos_exp / npos) : -pos / npos;
    total += pull + (nneg ? log(neg + r->cs->eps) : 0.0);
  }
  return valid ? total / valid : 0.0;
}

// Random unit rows [n, D] in float.
static void unit_rows(float *z, int n, int D, Rng *g) {
  for (int i = 0; i < n; i++) {
    double ss = 0;
    for (int t = 0; t < D; t++) z[i * D + t] = rng_normal(g), ss += z[i * D + t] * z[i * D + t];
    for (int t = 0; t < D; t++) z[i * D + t] = (float)(z[i * D + t] / sqrt(ss));
  }
}

static void fd_case(const char *name, int na, int nc, int D, const int32_t *ya, const int32_t *yc,
                    ContrastiveSpec cs, int push, float scale) {
  Rng g = rng_derive(99, 1, (uint64_t)na * 131 + nc);
  const int self = cs.exclude_self, nz = self ? na : na + nc;
  float *z = malloc((size_t)nz * D * sizeof(float)), *zo = NULL;
  unit_rows(z, nz, D, &g);
  double *zd = malloc((size_t)nz * D * sizeof(double)), *zod = NULL;
  for (int t = 0; t < nz * D; t++) zd[t] = z[t];
  if (push) {
    zo = malloc((size_t)na * D * sizeof(float));
    zod = malloc((size_t)na * D * sizeof(double));
    unit_rows(zo, na, D, &g);
    for (int t = 0; t < na * D; t++) zod[t] = zo[t];
  }
  float *dz = calloc((size_t)nz * D, sizeof(float));
  const float *zc = self ? z : z + (size_t)na * D;
  float *dzc = self ? dz : dz + (size_t)na * D;
  double loss;
  int valid;
  Err e = {0};
  CHECK(contrastive_loss(z, ya, na, zc, self ? ya : yc, self ? na : nc, zo, D, &cs, scale, &loss,
                         dz, dzc, &valid, &e) == 0);
  double m[256];
  Ref r = {na, self ? na : nc, D, ya, self ? ya : yc, &cs, self, m, 0};
  const double want = ref_loss(&r, zd, zod);
  r.freeze = 1;
  double h = 1e-6, scale_g = 0, diff = 0;
  for (int t = 0; t < nz * D; t++) {
    const double keep = zd[t];
    zd[t] = keep + h;
    double up = ref_loss(&r, zd, zod);
    zd[t] = keep - h;
    double down = ref_loss(&r, zd, zod);
    zd[t] = keep;
    double fd = scale * (up - down) / (2 * h);
    if (fabs(fd) > scale_g) scale_g = fabs(fd);
    if (fabs(fd - dz[t]) > diff) diff = fabs(fd - dz[t]);
  }
  printf("fd      %-24s tau %-5g loss %.6f (ref %.6f), %d valid anchors, grad err %.2g of %.3g\n",
         name, cs.tau, loss, want, valid, diff, scale_g);
  CHECK(isfinite(loss));
  CHECK_CLOSE(loss, want, 1e-9, 1e-12);
  CHECK(diff <= 1e-5 * scale_g + 1e-9);
  free(z), free(zd), free(zo), free(zod), free(dz);
}

static void fd_tests(void) {
  enum { NA = 10, NC = 14, D = 12 };
  int32_t ya[NA], yc[NC], y_forget[NA], y_retain[NC];
  Rng g = rng_derive(7, 2, 0);
  for (int i = 0; i < NA; i++) ya[i] = (int32_t)rng_below(&g, 3), y_forget[i] = 4;
  for (int j = 0; j < NC; j++) yc[j] = (int32_t)rng_below(&g, 3), y_retain[j] = j % 4;
  ContrastiveSpec cu = {.tau = 0.7f, .eps = 1e-8f};
  fd_case("mixed", NA, NC, D, ya, yc, cu, 0, 1.0f);
  fd_case("classwise (N empty)", NA, NC, D, y_forget, y_retain, cu, 0, 1.0f);
  ContrastiveSpec t = cu;
  t.tau = 0.05f;
  fd_case("mixed", NA, NC, D, ya, yc, t, 0, 1.0f);
  fd_case("classwise (N empty)", NA, NC, D, y_forget, y_retain, t, 0, 1.0f);
  t.tau = 5.0f;
  fd_case("mixed", NA, NC, D, ya, yc, t, 0, 1.0f);
  fd_case("classwise (N empty)", NA, NC, D, y_forget, y_retain, t, 0, 1.0f);
  fd_case("push_original, scale 2.5", NA, NC, D, ya, yc, cu, 1, 2.5f);
  ContrastiveSpec fo = cu;
  fo.exclude_self = 1;
  fd_case("forget_only", NA, 0, D, ya, NULL, fo, 0, 1.0f);
  ContrastiveSpec lse = cu;
  lse.pos_lse = 1;
  fd_case("mixed, pull nearest", NA, NC, D, ya, yc, lse, 0, 1.0f);
  fd_case("classwise, pull nearest", NA, NC, D, y_forget, y_retain, lse, 0, 1.0f);
  lse.tau = 0.05f;
  fd_case("classwise, pull nearest", NA, NC, D, y_forget, y_retain, lse, 0, 1.0f);
  lse.tau = 0.7f;
  fd_case("push_original, nearest", NA, NC, D, ya, yc, lse, 1, 2.5f);
  lse.exclude_self = 1;
  fd_case("forget_only, nearest", NA, 0, D, ya, NULL, lse, 0, 1.0f);
  ContrastiveSpec sc = {.tau = 0.1f, .pos_same_class = 1, .neg_all = 1, .exclude_self = 1};
  fd_case("supcon", NA, 0, D, ya, NULL, sc, 0, 1.0f);

  // No anchor with a positive: loss 0, no gradient.
  int32_t same[NC];
  for (int j = 0; j < NC; j++) same[j] = 4;
  float z[(NA + NC) * D] = {0}, dz[(NA + NC) * D] = {0};
  for (int t = 0; t < (NA + NC) * D; t++) z[t] = (float)((t % 7) - 3) / 10;
  double loss = 1;
  int valid = -1;
  Err e = {0};
  CHECK(contrastive_loss(z, y_forget, NA, z + NA * D, same, NC, NULL, D, &cu, 1.0f, &loss, dz,
                         dz + NA * D, &valid, &e) == 0);
  CHECK(loss == 0 && valid == 0);
  for (int t = 0; t < (NA + NC) * D; t++) CHECK(dz[t] == 0);
}

// Class-wise forgetting (every N(i) empty): the loss is −mean_p a_ip and its gradient is
// scale/τ times one that does not depend on τ, so (τ, λ) and (τ/2, λ/2) take the same step:
// τ only sets the strength λ/τ (docs/ec-study.md, hypothesis 4). With negatives present it does
// not: the softmax over N(i) depends on τ.
static void tau_is_strength(void) {
  enum { NA = 6, NC = 8, D = 5 };
  const int32_t ya[NA] = {3, 3, 3, 8, 8, 8}, yc[NC] = {0, 1, 2, 4, 5, 6, 7, 9};
  const int32_t yc_mixed[NC] = {0, 3, 2, 8, 5, 3, 7, 9};
  Rng g = rng_derive(11, 0, 0);
  float za[NA * D], zc[NC * D];
  unit_rows(za, NA, D, &g), unit_rows(zc, NC, D, &g);
  for (int mixed = 0; mixed < 2; mixed++) {
    float da1[NA * D] = {0}, dc1[NC * D] = {0}, da2[NA * D] = {0}, dc2[NC * D] = {0};
    double l1, l2;
    Err e = {0};
    ContrastiveSpec a = {.tau = 0.7f, .eps = 1e-8f}, b = {.tau = 0.35f, .eps = 1e-8f};
    const int32_t *y = mixed ? yc_mixed : yc;
    CHECK(contrastive_loss(za, ya, NA, zc, y, NC, NULL, D, &a, 3.0f, &l1, da1, dc1, NULL, &e) == 0);
    CHECK(contrastive_loss(za, ya, NA, zc, y, NC, NULL, D, &b, 1.5f, &l2, da2, dc2, NULL, &e) == 0);
    double diff = fmax(rel_err(da2, da1, NA * D), rel_err(dc2, dc1, NC * D));
    printf("  (tau 0.7, lambda 3) vs (tau 0.35, lambda 1.5), %s: gradient rel. diff %.2g\n",
           mixed ? "with negatives" : "class-wise", diff);
    CHECK(mixed ? diff > 1e-3 : diff < 1e-6);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_contrastive FIXTURE.h5\n");
    return 2;
  }
  hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(f >= 0);
  if (f >= 0) {
    const char *cases[] = {"mixed",
                           "classwise",
                           "tau_small",
                           "tau_large",
                           "classwise_tau_small",
                           "empty_pos",
                           "forget_only",
                           "push_original",
                           "push_original_classwise",
                           "supcon",
                           "classwise_nearest",
                           "classwise_nearest_tau_small",
                           "mixed_nearest",
                           "push_original_nearest"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(f, cases[i]);
    H5Fclose(f);
  }
  fd_tests();
  tau_is_strength();
  return test_finish("contrastive");
}
