// data.h: datasets (loading, normalisation, augmentation, batches, epoch order) and forget
// splits. The whole public interface of data*.c and split.c.
//
// Images are kept as they come, uint8 [n, c, h, w], and only turned into normalised floats
// batch by batch (data_batch): a full CIFAR-10 is 150 MB as bytes, 600 MB as floats.
//
// Error codes (err.h):
// - ERR_CONFIG: what the user wrote is wrong or names nothing: unknown data set name, bad
//   parameters, a data root or file that does not exist, a bad forget scenario. The harness can
//   find these before it writes anything (data_spec_check checks that the files exist).
// - ERR_RUNTIME: a file exists but is unreadable or wrong: truncated, bad magic number, bad
//   gzip stream, mismatched image/label counts, wrong dimensions or types, a label out of range.
// Every message names the file (and HDF5 dataset) and what was expected versus found, e.g.
//   "/x/train-images-idx3-ubyte.gz: bad magic 0x00000000, expected 0x00000803 (idx3 images)".
// Loaders free everything they allocated when they fail, and leave the output zeroed.
//
// File layouts:
// - mnist, fashion-mnist: idx files, gzip-compressed or not (zlib reads both). Default names
//   under root: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
//   t10k-labels-idx1-ubyte, each tried as is and with ".gz", also under root/raw/ (torchvision's
//   layout). Explicit lists: exactly two files, images then labels. 10 classes, c = 1.
// - cifar10: records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, rows of 32).
//   Default files data_batch_1.bin .. data_batch_5.bin and test_batch.bin, under root or
//   root/cifar-10-batches-bin/. 10 classes.
// - cifar100: records of 2 label bytes (coarse, fine) + 3072 pixel bytes; the fine label
//   (100 classes) is used. Default files train.bin, test.bin, under root or root/cifar-100-binary/.
// - hdf5: one file holding the datasets
//     /train/images  uint8 [N, C, H, W]   (or [N, H, W], read as C = 1), C in 1..3
//     /train/labels  any integer type [N], values in [0, num_classes)
//     /test/images   uint8 [M, C, H, W]   (same C, H, W as train)
//     /test/labels   any integer type [M]
//   and optionally an integer attribute "num_classes" on the root group "/"; without it,
//   num_classes = 1 + the largest label in train and test. The file is spec.file (relative to
//   root unless absolute) or, when spec.file is empty, root itself. With h5py:
//     f.create_dataset("train/images", data=x.astype("uint8")); f.attrs["num_classes"] = K
// - synthetic: no file; see SynthSpec.
// With max_train/max_test, only the prefix is read; its files are checked up to the prefix.
#pragma once

#include <stdint.h>

#include "err.h"
#include "lists.h"

enum {
  DATA_PATH_MAX = 1024,
  DATA_MAX_FILES = 8,
  DATA_MAX_CHANNELS = 3,
};

// A set of images with their labels.
typedef struct {
  int64_t n;
  int c, h, w;
  int num_classes;
  uint8_t *images;  // [n, c, h, w], pixels 0..255
  int32_t *labels;  // [n], in [0, num_classes)
} ImageSet;

// Augmentation, applied per sample in data_batch (torchvision's RandomCrop(padding) followed by
// RandomHorizontalFlip): crop_pad = p pads by p zero pixels on each side and crops back to h x w
// at a random offset (0 = no crop); hflip = 1 flips left-right with probability 1/2. In a
// DataSpec, -1 in a field means "auto": crop 4 and flip for cifar10/cifar100, neither otherwise.
typedef struct {
  int crop_pad;
  int hflip;
} Augment;

// Normalisation modes. AUTO: the usual published values for mnist, fashion-mnist, cifar10 and
// cifar100, computed from the loaded training set for hdf5 and synthetic.
enum {
  DATA_NORM_AUTO = 0,
  DATA_NORM_EXPLICIT = 1,  // spec.mean / spec.std
  DATA_NORM_COMPUTE = 2,   // per-channel mean/std of the loaded training set's [0,1] pixels
  DATA_NORM_NONE = 3,      // mean 0, std 1: pixels in [0, 1]
};

// Synthetic data: class-structured images, deterministic from seed, no files.
// Each class has one smooth random prototype per channel (a random 8x8 grid, upsampled
// bilinearly). A sample of class y is its prototype, shifted by up to max(1, h/5) pixels, with
// random contrast and brightness, blended with a randomly chosen other class's prototype (weight
// up to 0.45, itself shifted), plus per-pixel noise of standard deviation `noise` (in [0,1]
// pixel units). The shifts and the blend defeat a fixed template much more than a CNN: with the
// defaults, a nearest-class-mean classifier on raw pixels gets ~69% of the test set (1x28x28;
// ~83% for 3x32x32), the best shift-aligned match with the true prototypes ~99%.
// Labels are i % classes (balanced). Sample i of the train (test) set depends only on
// (seed, i, set), so a smaller n_train gives a prefix of a larger one. Generating
// 10000 + 2000 images takes ~0.1 s at 1x28x28, ~0.3 s at 3x32x32.
typedef struct {
  int64_t n_train, n_test;  // defaults 10000, 2000
  int classes;              // default 10
  int c, h, w;              // default 1, 28, 28
  uint64_t seed;            // default 0: the data set is the same whatever the run's seed
  float noise;              // default 0.3
} SynthSpec;

// What to load. Fill with data_spec_init, then set fields.
typedef struct {
  char name[32];             // "mnist", "fashion-mnist", "cifar10", "cifar100", "hdf5", "synthetic"
  char root[DATA_PATH_MAX];  // folder of the files (hdf5: the file itself, or file's folder)
  char file[DATA_PATH_MAX];  // hdf5 only: the file (relative to root unless absolute)
  // Optional explicit files (relative to root unless absolute); n = 0: the defaults.
  char train_files[DATA_MAX_FILES][DATA_PATH_MAX];
  char test_files[DATA_MAX_FILES][DATA_PATH_MAX];
  int n_train_files, n_test_files;
  int64_t max_train, max_test;  // > 0: keep only the first max samples (quick tests)
  int norm;                     // DATA_NORM_*
  float mean[DATA_MAX_CHANNELS], std[DATA_MAX_CHANNELS];  // DATA_NORM_EXPLICIT: per channel
  Augment aug;                                            // -1 fields: auto (see Augment)
  SynthSpec synth;
} DataSpec;

typedef struct {
  char name[32];
  ImageSet train, test;                                   // same c, h, w, num_classes
  float mean[DATA_MAX_CHANNELS], std[DATA_MAX_CHANNELS];  // per channel, of [0,1] pixels
  Augment aug;  // resolved: what training batches should use (data_batch's aug)
} Dataset;

// Defaults: name "synthetic", root "", norm AUTO, aug auto, synthetic defaults.
void data_spec_init(DataSpec *spec);
// Checks names and parameters, and that the files exist (not their contents): ERR_CONFIG.
// Cheap, so that the harness can call it while validating a config.
int data_spec_check(const DataSpec *spec, Err *e);
// Loads train and test sets, resolves normalisation and augmentation. On failure d is zeroed.
int dataset_load(Dataset *d, const DataSpec *spec, Err *e);
void dataset_free(Dataset *d);
void imageset_free(ImageSet *s);

// x [B, c, h, w] = normalised (augmented) images s[idx[b]], y [B] = their labels.
// aug NULL (or all zero): no augmentation. The augmentation of sample b is drawn from
//   rng_derive(rng_hash(seed, epoch), RNG_AUGMENT, pos ? pos[b] : idx[b])
// where pos [B] are the samples' global positions in the epoch's order: so what a sample gets
// depends neither on which rank or batch slice assembles it nor on its neighbours, and a sample
// that occurs twice in an epoch (cycled forget batches) gets two draws. Padding pixels are 0
// before normalisation, as in torchvision. mean/std: [c].
void data_batch(float *x, int32_t *y, const ImageSet *s, const float *mean, const float *std,
                const int32_t *idx, int B, const Augment *aug, uint64_t seed, uint64_t epoch,
                const int64_t *pos);

// order [n] = a permutation of subset [n] (of 0..n-1 if subset is NULL), from
// rng_derive(seed, RNG_ORDER, epoch) only: the same on every rank, for any number of ranks.
void data_epoch_order(int32_t *order, const int32_t *subset, int64_t n, uint64_t seed,
                      uint64_t epoch);

// The usual published per-channel statistics of a named data set (DATA_NORM_AUTO's values for
// mnist, fashion-mnist, cifar10, cifar100) into mean, std [3]; 0 if none is known for the name.
int data_known_norm(const char *name, float *mean, float *std);
// Per-channel mean and std [c] of the [0,1] pixels of s (population std; 1 where it is ~0).
void data_channel_stats(const ImageSet *s, float *mean, float *std);

// The loaders dataset_load dispatches to (exposed for tools and tests). Each fills train and
// test with max_train/max_test applied, checks labels against num_classes, and names files in
// its errors.
int data_load_idx(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e);
int data_load_cifar(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e);
int data_load_hdf5(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e);
int data_load_synthetic(ImageSet *train, ImageSet *test, const SynthSpec *spec, int64_t max_train,
                        int64_t max_test, Err *e);
// ERR_CONFIG if a synthetic parameter is out of range.
int data_synth_check(const SynthSpec *spec, Err *e);

// The files a spec names, resolved against root (defaults tried as documented above); a file
// that does not exist is ERR_CONFIG. idx: paths = train images, train labels, test images, test
// labels. cifar: *n_train train files then *n_test test files. hdf5: one path.
int data_idx_paths(char paths[4][DATA_PATH_MAX], const DataSpec *spec, Err *e);
int data_cifar_paths(char paths[2 * DATA_MAX_FILES][DATA_PATH_MAX], int *n_train, int *n_test,
                     const DataSpec *spec, Err *e);
int data_hdf5_path(char *path, const DataSpec *spec, Err *e);
// Checks the files a spec names without reading their images, so that a wrong or damaged file
// is found at config time (`ecore plan`), naming it: idx: magics, dimensions, images and labels
// agreeing, and (files not gzip-compressed) the exact size; cifar: each size a non-zero
// multiple of the record; hdf5: the four datasets, their types and shapes.
int data_idx_peek(const DataSpec *spec, Err *e);
int data_cifar_peek(const DataSpec *spec, Err *e);
int data_hdf5_peek(const DataSpec *spec, Err *e);

// Helpers shared by the loaders.
// out = name if absolute or root is empty, else root/name. ERR_CONFIG if too long.
int data_join(char *out, const char *root, const char *name, Err *e);
// Finds the first existing file among root/name, root/name.gz and the same under each of
// subdirs [n_subdirs] (for default names); only root/name for explicit ones (gz = 0, no
// subdirs). ERR_CONFIG naming what was tried when none exists.
int data_find(char *out, const char *root, const char *name, int gz, const char *const *subdirs,
              int n_subdirs, Err *e);

// ----------------------------------------------------------------------------------------------
// forget splits (split.c)

typedef enum {
  FORGET_CLASSES,          // the given classes
  FORGET_RANDOM_CLASSES,   // random_classes classes drawn from the seed
  FORGET_RANDOM_FRACTION,  // a fraction of the training samples drawn from the seed
} ForgetMode;
enum { FORGET_MAX_CLASSES = 1024 };

// The forget set: the config's forget section (its keys fill these fields; docs/config.md).
typedef struct {
  IntList classes;         // FORGET_CLASSES: distinct, in [0, num_classes), 1 .. num_classes-1
  int random_classes;      // > 0: FORGET_RANDOM_CLASSES, 1 .. num_classes - 1
  double random_fraction;  // > 0: FORGET_RANDOM_FRACTION, in (0, 1); wins over random_classes
  int split_seed;          // the seed of the random draws; -1: the run's (the caller resolves it)
} ForgetSpec;

// Which of the three the spec asks for.
ForgetMode forget_mode(const ForgetSpec *spec);

// Index arrays hold sample indices into the train or test set, ascending.
// Class-wise modes: train_forget = training samples of forgotten classes, train_retain = the
// rest; test_forget/test_retain likewise on the test set.
// FORGET_RANDOM_FRACTION: round(fraction * n_train) training samples (at least 1) are forgotten;
// no class is, so forget_class is all 0, test_forget is empty and test_retain is the whole test
// set (the test set measures what is kept; forget quality is measured on train_forget).
typedef struct {
  int num_classes;
  uint8_t *forget_class;  // [num_classes] 1 = forgotten
  int32_t *train_forget, *train_retain, *test_forget, *test_retain;
  int64_t n_train_forget, n_train_retain, n_test_forget, n_test_retain;
} ForgetSplit;

// Checks spec against num_classes: ERR_CONFIG with a message naming the bad value.
int forget_spec_check(const ForgetSpec *spec, int num_classes, Err *e);
// Makes the split, deterministic from seed (rng_derive(seed, RNG_SPLIT, ...)). ERR_CONFIG for a
// bad spec or an empty forget or retain training set. On failure fs is zeroed.
int forget_split_make(ForgetSplit *fs, const ForgetSpec *spec, const ImageSet *train,
                      const ImageSet *test, uint64_t seed, Err *e);
void forget_split_free(ForgetSplit *fs);
