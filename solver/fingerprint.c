// fingerprint.c: model_fingerprint (model.h), which model a result was measured against.
//
// The fingerprint is the first 8 bytes, as 16 lowercase hex digits, of the SHA-256 (OpenSSL) of
// every tensor of the model, parameters and BatchNorm buffers alike, taken in the byte order of
// their PyTorch state_dict keys: for each, the key, one NUL byte, then the values as float32
// little endian in PyTorch's shape (C order). A checkpoint gives the same digest from its
// /params datasets alone:
//
//   h = hashlib.sha256()
//   for k in sorted(f["params"]):
//       h.update(k.encode() + b"\0" + f["params"][k][()].astype("<f4").tobytes())
//   h.hexdigest()[:16]
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int cmp_name(const void *a, const void *b) {
  const ParamInfo *x = *(const ParamInfo *const *)a, *y = *(const ParamInfo *const *)b;
  return strcmp(x->name, y->name);
}

// Feeds n float32 values to the digest in little-endian byte order.
static int digest_floats(EVP_MD_CTX *ctx, const float *v, int64_t n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return EVP_DigestUpdate(ctx, v, (size_t)n * sizeof *v);
#else
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    unsigned char le[4] = {u & 0xff, (u >> 8) & 0xff, (u >> 16) & 0xff, u >> 24};
    if (!EVP_DigestUpdate(ctx, le, 4)) return 0;
  }
  return 1;
#endif
}

int model_fingerprint(const Model *m, char out[MODEL_FINGERPRINT_LEN], Err *e) {
  out[0] = '\0';
  const ParamInfo **order = malloc(sizeof *order * (size_t)(m->n_params ? m->n_params : 1));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = order && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (int i = 0; ok && i < m->n_params; i++) order[i] = &m->params[i];
  if (ok) qsort(order, (size_t)m->n_params, sizeof *order, cmp_name);
  for (int i = 0; ok && i < m->n_params; i++) {
    const ParamInfo *p = order[i];
    const float *d = (p->is_buffer ? m->buffer_mem : m->param_mem) + p->offset;
    ok = EVP_DigestUpdate(ctx, p->name, strlen(p->name) + 1) && digest_floats(ctx, d, p->size);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, md, &len) && len >= 8;
  EVP_MD_CTX_free(ctx);
  free(order);
  if (!ok) return errf(e, ERR_RUNTIME, "cannot compute the model's fingerprint (SHA-256)");
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  return 0;
}
