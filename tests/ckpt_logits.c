// ckpt_logits.c: the eval-mode logits of an ecore checkpoint on given inputs, for tests that
// compare a converted model with PyTorch's (test_swin_convert.py).
//
//   ckpt_logits MODEL.h5 INPUTS.h5   reads /input [B, C, H, W] (float32, already normalised) from
//                                    INPUTS.h5 and writes /ecore_logits [B, K] into it.
// The model is built from the checkpoint alone (eval_load_model: arch, shape, width, swin_t's
// patch and window). Exit 0, or 1 with the reason.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ckpt_logits MODEL.h5 INPUTS.h5\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rc = 1;
  hid_t f = H5Fopen(argv[2], H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t ds = f >= 0 ? H5Dopen2(f, "input", H5P_DEFAULT) : -1;
  hsize_t dims[4] = {0};
  hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
  if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 4) {
    fprintf(stderr, "%s: no 4-d /input\n", argv[2]);
    goto done;
  }
  H5Sget_simple_extent_dims(sp, dims, NULL);
  Model m;
  Err e = {0};
  if (eval_load_model(&m, argv[1], 0, (int)dims[0], NULL, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    goto done;
  }
  if (m.spec.in_c != (int)dims[1] || m.spec.in_h != (int)dims[2] || m.spec.in_w != (int)dims[3]) {
    fprintf(stderr, "%s: /input is not of the model's %dx%dx%d\n", argv[2], m.spec.in_c,
            m.spec.in_h, m.spec.in_w);
    model_free(&m);
    goto done;
  }
  float *x = malloc(dims[0] * dims[1] * dims[2] * dims[3] * sizeof(float));
  H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  model_forward(&m, x, (int)dims[0], 0);
  hsize_t out_dims[2] = {dims[0], (hsize_t)m.spec.num_classes};
  hid_t osp = H5Screate_simple(2, out_dims, NULL);
  hid_t ods =
      H5Dcreate2(f, "ecore_logits", H5T_IEEE_F32LE, osp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  rc = H5Dwrite(ods, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, model_logits(&m)) < 0;
  H5Dclose(ods), H5Sclose(osp);
  free(x);
  model_free(&m);
done:
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  if (f >= 0) H5Fclose(f);
  MPI_Finalize();
  return rc;
}
