// ckpt.c: see ckpt.h.
#include "ckpt.h"
#include "h5quiet.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_tensor(hid_t g, const char *name, const float *data, int ndim, const int *shape) {
  hsize_t dims[4];
  for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
  hid_t sp = H5Screate_simple(ndim, dims, NULL);
  hid_t ds = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = ds < 0 ? -1 : H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(sp);
  return st < 0 ? -1 : 0;
}

// Whether dataset ds holds IEEE floats of 32 or 64 bits, little- or big-endian (what PyTorch,
// h5py and ecore write): any other stored type is refused before H5Dread, whose conversions of
// damaged or exotic types are not safe to run.
static int ieee_floats(hid_t ds) {
  hid_t t = H5Dget_type(ds);
  int ok = t >= 0 && (H5Tequal(t, H5T_IEEE_F32LE) > 0 || H5Tequal(t, H5T_IEEE_F32BE) > 0 ||
                      H5Tequal(t, H5T_IEEE_F64LE) > 0 || H5Tequal(t, H5T_IEEE_F64BE) > 0);
  if (t >= 0) H5Tclose(t);
  return ok;
}

// Reads dataset name of g into data, checking its shape is exactly (ndim, shape).
static int read_tensor(hid_t g, const char *name, float *data, int ndim, const int *shape,
                       const char *path, const char *group, Err *e) {
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) return errf(e, ERR_RUNTIME, "%s: missing /%s/%s", path, group, name);
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[8];
  int nd = H5Sget_simple_extent_ndims(sp);
  int ok = nd == ndim && nd <= 8;
  if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
  for (int i = 0; ok && i < nd; i++) ok = dims[i] == (hsize_t)shape[i];
  H5Sclose(sp);
  if (!ok) {
    H5Dclose(ds);
    char want[64] = "", *p = want;
    for (int i = 0; i < ndim; i++) p += snprintf(p, 16, i ? ",%d" : "%d", shape[i]);
    return errf(e, ERR_RUNTIME, "%s: /%s/%s has the wrong shape (expected [%s])", path, group, name,
                want);
  }
  if (!ieee_floats(ds)) {
    H5Dclose(ds);
    return errf(e, ERR_RUNTIME, "%s: /%s/%s is not stored as 32- or 64-bit floats", path, group,
                name);
  }
  herr_t st = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds);
  if (st < 0) return errf(e, ERR_RUNTIME, "%s: cannot read /%s/%s", path, group, name);
  return 0;
}

static void attr_write(hid_t obj, const char *name, hid_t type, hid_t mem, int n, const void *v) {
  hsize_t d = (hsize_t)n;
  hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, mem, v);
  H5Aclose(a);
  H5Sclose(sp);
}

static void attr_string(hid_t obj, const char *name, const char *s) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(s) + 1);
  attr_write(obj, name, t, t, 0, s);
  H5Tclose(t);
}

// A numeric attribute of lo to hi values into v (as mem; v holds hi). -1 if absent, not a
// number, or another count of values.
static int attr_read(hid_t obj, const char *name, hid_t mem, void *v, int lo, int hi) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
  int ok = n >= lo && n <= hi && (cls == H5T_INTEGER || cls == H5T_FLOAT);
  herr_t st = ok ? H5Aread(a, mem, v) : -1;
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(a);
  return st < 0 ? -1 : 0;
}

// A scalar string attribute in any of HDF5's string forms: fixed-length (NUL-terminated or
// padded, as C or numpy's bytes_ write it) or variable-length (as h5py writes a str), ASCII or
// UTF-8. -1 if absent, not a string, or longer than out holds.
static int attr_read_string(hid_t obj, const char *name, char *out, int len) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  hid_t t = H5Tcopy(H5T_C_S1);
  int rc = -1;
  if (H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1) {
    H5Tset_cset(t, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0) {
      char *v = NULL;
      H5Tset_size(t, H5T_VARIABLE);
      if (H5Aread(a, t, &v) >= 0 && v && strlen(v) < (size_t)len) {
        snprintf(out, (size_t)len, "%s", v);
        rc = 0;
      }
      if (v) H5free_memory(v);
    } else {
      size_t sz = H5Tget_size(ft);
      char buf[256];
      H5Tset_size(t, sz + 1);  // room for the terminator a padded string lacks
      H5Tset_strpad(t, H5T_STR_NULLTERM);
      if (sz < sizeof buf && sz < (size_t)len && H5Aread(a, t, buf) >= 0) {
        buf[sz] = 0;
        snprintf(out, (size_t)len, "%s", buf);
        rc = 0;
      }
    }
  }
  H5Tclose(t), H5Sclose(sp), H5Tclose(ft), H5Aclose(a);
  return rc;
}

// The stem attribute; a file without it (written before stems existed) holds the CIFAR stem.
static int read_stem(hid_t f, const char *path, Stem *stem, Err *e) {
  char name[32] = "";
  *stem = STEM_CIFAR;
  if (H5Aexists(f, "stem") <= 0) return 0;
  int s = attr_read_string(f, "stem", name, sizeof name) == 0 ? stem_from_name(name) : -1;
  if (s < 0)
    return errf(e, ERR_RUNTIME, "%s: attribute stem is '%s', not one of cifar, imagenet", path,
                name);
  *stem = (Stem)s;
  return 0;
}

// ---------------------------------------------------------------------------------------------

static int save_body(hid_t f, const Model *m, const CkptMeta *meta, const Sgd *opt,
                     const CkptTensor *aux, int n_aux) {
  int rc = 0;
  hid_t gp = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t go = opt ? H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  for (int i = 0; i < m->n_params && rc == 0; i++) {
    const ParamInfo *p = &m->params[i];
    const float *d = (p->is_buffer ? m->buffer_mem : m->param_mem) + p->offset;
    rc = write_tensor(gp, p->name, d, p->ndim, p->shape);
    if (rc == 0 && opt && !p->is_buffer)
      rc = write_tensor(go, p->name, opt->velocity + p->offset, p->ndim, p->shape);
  }
  H5Gclose(gp);
  if (go >= 0) H5Gclose(go);
  if (n_aux > 0 && rc == 0) {
    hid_t ga = H5Gcreate2(f, "aux", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < n_aux && rc == 0; i++)
      rc = write_tensor(ga, aux[i].name, aux[i].data, aux[i].ndim, aux[i].shape);
    H5Gclose(ga);
  }
  const ModelSpec *s = &m->spec;
  int shape[3] = {s->in_c, s->in_h, s->in_w};
  attr_string(f, "arch", arch_name(s->arch));
  attr_string(f, "stem", stem_name(s->stem));
  attr_write(f, "num_classes", H5T_STD_I32LE, H5T_NATIVE_INT, 0, &s->num_classes);
  attr_string(f, "role", meta->role);
  attr_string(f, "run_id", meta->run_id);
  attr_write(f, "input_shape", H5T_STD_I32LE, H5T_NATIVE_INT, 3, shape);
  int nc = s->in_c < 4 ? s->in_c : 4;
  attr_write(f, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nc, meta->mean);
  attr_write(f, "std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nc, meta->std);
  if (meta->has_progress) {
    attr_write(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, &meta->seed);
    attr_write(f, "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &meta->epoch);
    attr_write(f, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &meta->step);
    int64_t steps = opt ? opt->steps : meta->opt_steps;
    attr_write(f, "opt_steps", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &steps);
  }
  return rc;
}

int ckpt_save(const char *path, const Model *m, const CkptMeta *meta, const Sgd *opt,
              const CkptTensor *aux, int n_aux, Err *e) {
  // A name of its own per writer: shards on other nodes may save the same cached model at once.
  char tmp[4096], host[256] = "";
  gethostname(host, sizeof host - 1);
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%s.%d", path, host, (int)getpid()) >= (int)sizeof tmp)
    return errf(e, ERR_RUNTIME, "%s: path too long", path);
  Quiet q = quiet_on();
  // The HDF5 1.8 format (superblock 2, object headers 2) checksums all of the file's structure,
  // so a damaged checkpoint reads as an error where the 1.6 one (HDF5's default) can crash
  // HDF5 1.10 (docs/fuzzing.md). h5py and every HDF5 since 1.8 (2008) read it.
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (f < 0) {
    quiet_off(q);
    return errf(e, ERR_RUNTIME, "%s: cannot create checkpoint file", tmp);
  }
  int rc = save_body(f, m, meta, opt, aux, n_aux);
  if (H5Fclose(f) < 0) rc = -1;
  quiet_off(q);
  if (rc != 0) {
    remove(tmp);
    return errf(e, ERR_RUNTIME, "%s: writing the checkpoint failed (disk full?)", tmp);
  }
  if (rename(tmp, path) != 0) {
    remove(tmp);
    return errf(e, ERR_RUNTIME, "%s: cannot rename %s into place", path, tmp);
  }
  return 0;
}

static int load_body(hid_t f, const char *path, Model *m, CkptMeta *meta, Sgd *opt, Err *e) {
  char arch[32] = "";
  int classes = -1;
  if (attr_read_string(f, "arch", arch, sizeof arch) != 0 ||
      attr_read(f, "num_classes", H5T_NATIVE_INT, &classes, 1, 1) != 0)
    return errf(e, ERR_RUNTIME, "%s: not an ecore checkpoint (no arch/num_classes attributes)",
                path);
  if (strcmp(arch, arch_name(m->spec.arch)) || classes != m->spec.num_classes)
    return errf(e, ERR_RUNTIME, "%s: holds a %s with %d classes, expected a %s with %d", path, arch,
                classes, arch_name(m->spec.arch), m->spec.num_classes);
  Stem stem;
  if (read_stem(f, path, &stem, e)) return ERR_RUNTIME;
  if (stem != m->spec.stem)
    return errf(e, ERR_RUNTIME,
                "%s: holds a %s with the %s stem, expected the %s stem (model.stem)", path, arch,
                stem_name(stem), stem_name(m->spec.stem));
  hid_t gp = H5Gopen2(f, "params", H5P_DEFAULT);
  if (gp < 0) return errf(e, ERR_RUNTIME, "%s: missing group /params", path);
  int rc = 0;
  for (int i = 0; i < m->n_params && rc == 0; i++)
    rc = read_tensor(gp, m->params[i].name, model_param_data(m, i), m->params[i].ndim,
                     m->params[i].shape, path, "params", e);
  H5Gclose(gp);
  if (rc) return rc;
  if (opt) {
    hid_t go = H5Gopen2(f, "optim", H5P_DEFAULT);
    if (go < 0) return errf(e, ERR_RUNTIME, "%s: no optimiser state (/optim) to resume from", path);
    for (int i = 0; i < m->n_params && rc == 0; i++)
      if (!m->params[i].is_buffer)
        rc = read_tensor(go, m->params[i].name, opt->velocity + m->params[i].offset,
                         m->params[i].ndim, m->params[i].shape, path, "optim", e);
    H5Gclose(go);
    if (rc) return rc;
    int64_t steps = 0;
    if (attr_read(f, "opt_steps", H5T_NATIVE_INT64, &steps, 1, 1) != 0)
      return errf(e, ERR_RUNTIME, "%s: missing attribute opt_steps", path);
    opt->steps = steps;
  }
  if (meta) {
    memset(meta, 0, sizeof *meta);
    attr_read_string(f, "role", meta->role, sizeof meta->role);
    attr_read_string(f, "run_id", meta->run_id, sizeof meta->run_id);
    attr_read(f, "mean", H5T_NATIVE_FLOAT, meta->mean, 1, 4);
    attr_read(f, "std", H5T_NATIVE_FLOAT, meta->std, 1, 4);
    meta->has_progress = attr_read(f, "epoch", H5T_NATIVE_INT64, &meta->epoch, 1, 1) == 0;
    attr_read(f, "seed", H5T_NATIVE_UINT64, &meta->seed, 1, 1);
    attr_read(f, "step", H5T_NATIVE_INT64, &meta->step, 1, 1);
    attr_read(f, "opt_steps", H5T_NATIVE_INT64, &meta->opt_steps, 1, 1);
  }
  return 0;
}

static hid_t open_ro(const char *path, Err *e) {
  hid_t f = -1;
  FILE *probe = fopen(path, "rb");
  if (!probe) {
    errf(e, ERR_RUNTIME, "%s: cannot open checkpoint (no such file or not readable)", path);
    return -1;
  }
  fclose(probe);
  if (H5Fis_hdf5(path) <= 0) {
    errf(e, ERR_RUNTIME, "%s: not an HDF5 file (corrupt or truncated checkpoint?)", path);
    return -1;
  }
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) errf(e, ERR_RUNTIME, "%s: cannot open HDF5 file (corrupt or truncated?)", path);
  return f;
}

int ckpt_load(const char *path, Model *m, CkptMeta *meta, Sgd *opt, Err *e) {
  Quiet q = quiet_on();
  hid_t f = open_ro(path, e);
  int rc = f < 0 ? ERR_RUNTIME : load_body(f, path, m, meta, opt, e);
  if (f >= 0) H5Fclose(f);
  quiet_off(q);
  return rc;
}

int ckpt_load_aux(const char *path, const char *name, float *data, int64_t count, Err *e) {
  Quiet q = quiet_on();
  hid_t f = open_ro(path, e);
  int rc = ERR_RUNTIME;
  if (f >= 0) {
    char full[256];
    snprintf(full, sizeof full, "aux/%s", name);
    hid_t ds = H5Dopen2(f, full, H5P_DEFAULT);
    if (ds < 0) {
      rc = errf(e, ERR_RUNTIME, "%s: missing /%s", path, full);
    } else {
      hid_t sp = H5Dget_space(ds);
      hssize_t n = H5Sget_simple_extent_npoints(sp);
      H5Sclose(sp);
      if (n != count)
        rc = errf(e, ERR_RUNTIME, "%s: /%s holds %lld values, expected %lld", path, full,
                  (long long)n, (long long)count);
      else if (!ieee_floats(ds))
        rc = errf(e, ERR_RUNTIME, "%s: /%s is not stored as 32- or 64-bit floats", path, full);
      else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = errf(e, ERR_RUNTIME, "%s: cannot read /%s", path, full);
      else
        rc = 0;
      H5Dclose(ds);
    }
    H5Fclose(f);
  }
  quiet_off(q);
  return rc;
}

int ckpt_peek(const char *path, char *arch, int arch_len, int *num_classes, int input_shape[3],
              Stem *stem, Err *e) {
  Quiet q = quiet_on();
  hid_t f = open_ro(path, e);
  int rc = ERR_RUNTIME;
  if (f >= 0) {
    if (attr_read_string(f, "arch", arch, arch_len) != 0 ||
        attr_read(f, "num_classes", H5T_NATIVE_INT, num_classes, 1, 1) != 0 ||
        attr_read(f, "input_shape", H5T_NATIVE_INT, input_shape, 3, 3) != 0)
      rc = errf(e, ERR_RUNTIME, "%s: not an ecore checkpoint (missing attributes)", path);
    else
      rc = stem ? read_stem(f, path, stem, e) : 0;
    H5Fclose(f);
  }
  quiet_off(q);
  return rc;
}

int ckpt_same_norm(const CkptMeta *meta, const float *mean, const float *std, int c) {
  for (int i = 0; i < c && i < 4; i++)
    if (fabsf(meta->mean[i] - mean[i]) > 1e-6f || fabsf(meta->std[i] - std[i]) > 1e-6f) return 0;
  return 1;
}
