// schema.c: every config key, one line each: the only place a key, its type, default, range
// and applicability are written. Adding a key: a field in the struct the code runs on (the
// Config sections are the code's own structs: config.h), a line here, the code that reads it;
// then regenerate docs/config.md with `ecore plan --explain > docs/config.md`.
//
// Keys of a section (and of a subsection such as unlearn.scrub) stay together: the YAML writer
// and the reference page walk the table in order.
#include <limits.h>
#include <math.h>
#include <string.h>

#include "config.h"

#define OFF(field) offsetof(Config, field)
#define RANGE(l, h) .lo = (l), .hi = (h)
#define ABOVE(l, h) .lo = (l), .lo_open = true, .hi = (h)
#define BELOW(l, h) .lo = (l), .hi = (h), .hi_open = true
#define BIG ((double)INT_MAX)
#define INF HUGE_VAL

static const char *const data_names[] = {"mnist", "fashion-mnist", "cifar10", "cifar100",
                                         "hdf5",  "synthetic",     NULL};
static const char *const augment_names[] = {"auto", "none", "flip", "crop", "crop_flip", NULL};
// SchedKind's names; unlearning takes two of them.
static const char *const schedule_names[] = {"constant", "step", "multistep", "cosine", NULL};
static const char *const uschedule_names[] = {"constant", "cosine", NULL};
static const int uschedule_values[] = {SCHED_CONSTANT, SCHED_COSINE};
// The methods a config can name (the jobs' registry has original and retrain too; a test checks
// these against unlearn_method_name).
static const char *const method_names[] = {"none",        "ft",       "ga",    "neggrad+", "rl",
                                           "salun",       "l1sparse", "scrub", "bs",       "cu",
                                           "bad_teacher", "ssd",      "unsir", "be",       NULL};
static const int method_values[] = {UNLEARN_NONE,         UNLEARN_FT,          UNLEARN_GA,
                                    UNLEARN_NEGGRAD_PLUS, UNLEARN_RL,          UNLEARN_SALUN,
                                    UNLEARN_L1SPARSE,     UNLEARN_SCRUB,       UNLEARN_BS,
                                    UNLEARN_CU,           UNLEARN_BAD_TEACHER, UNLEARN_SSD,
                                    UNLEARN_UNSIR,        UNLEARN_BE};
static const char *const scheme_names[] = {"uniform", "increasing", "decreasing", "cka", NULL};
static const char *const variant_names[] = {"cu", "forget_only", NULL};
static const char *const summariser_names[] = {"gap", "conv", NULL};
static const char *const head_names[] = {"mlp", "frozen", "none", NULL};
static const char *const pull_names[] = {"mean", "nearest", NULL};
static const char *const mia_model_names[] = {"logistic", "svm", NULL};  // MiaModel's

// clang-format off
const KeySpec config_schema[] = {
  // data
  {"data.name", T_ENUM, OFF(data.name), "synthetic", .choices = data_names, .flags = J_ORIGINAL,
   .doc = "The data set: mnist and fashion-mnist (idx files, gzip or not), cifar10 and cifar100 (binary version), hdf5 (uint8 `images` [N,C,H,W] and int `labels` [N]), synthetic (generated class-structured images, no file)."},
  {"data.root", T_PATH, OFF(data.root), "\"\"", .when = W_FILE_DATA, .flags = KF_NOID,
   .doc = "Directory holding the data set's files. Relative paths are relative to the current working directory. Must exist. Not part of run ids, so that shards on different machines merge."},
  {"data.train_files", T_STRINGS, OFF(data.train_files), "[]", .when = W_FILE_DATA, .flags = J_ORIGINAL,
   .doc = "Training files inside data.root; []: the data set's standard names (mnist: train-images-idx3-ubyte and train-labels-idx1-ubyte, .gz or not; cifar10: data_batch_1.bin to data_batch_5.bin; cifar100: train.bin; hdf5: train.h5). Each one listed must exist."},
  {"data.test_files", T_STRINGS, OFF(data.test_files), "[]", .when = W_FILE_DATA, .flags = J_ORIGINAL,
   .doc = "Test files inside data.root; []: the standard names (t10k-*, test_batch.bin, test.bin, test.h5)."},
  {"data.allow_reduced", T_BOOL, OFF(data.allow_reduced), "false", .when = W_FILE_DATA, .flags = J_ORIGINAL,
   .doc = "Accept files holding fewer images than the full data set (such as the CIFAR-10 sample); otherwise a short file is an error."},
  {"data.max_train", T_INT, OFF(data.max_train), "0", RANGE(0, BIG), .flags = J_ORIGINAL,
   .doc = "Use only the first N training images, in data-set order; 0: all."},
  {"data.max_test", T_INT, OFF(data.max_test), "0", RANGE(0, BIG),
   .doc = "Use only the first N test images; 0: all."},
  {"data.normalize", T_BOOL, OFF(data.normalize), "true", .flags = J_ORIGINAL,
   .doc = "Subtract a per-channel mean and divide by a per-channel std (after scaling pixels to [0,1])."},
  {"data.mean", T_FLOATS, OFF(data.mean), "[]", RANGE(0, 1), .when = W_NORMALIZE, .flags = J_ORIGINAL,
   .doc = "Per-channel mean, one value per channel; []: the data set's usual values (hdf5, synthetic: measured on the training images)."},
  {"data.std", T_FLOATS, OFF(data.std), "[]", ABOVE(0, INF), .when = W_NORMALIZE, .flags = J_ORIGINAL,
   .doc = "Per-channel std, one value per channel; []: as for data.mean."},
  {"data.augment", T_ENUM, OFF(data.augment), "auto", .choices = augment_names, .flags = J_ORIGINAL,
   .doc = "Training augmentation: auto (crop_flip for cifar10 and cifar100, none otherwise), none, flip (horizontal), crop (random crop after zero padding), crop_flip."},
  {"data.crop_padding", T_INT, OFF(data.crop_padding), "4", RANGE(0, 64), .when = W_CROP, .flags = J_ORIGINAL,
   .doc = "Zero padding, in pixels, before a random crop."},
  {"data.synthetic.classes", T_INT, OFF(data.synthetic.classes), "10", RANGE(2, 1000), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Number of classes of the synthetic data set."},
  {"data.synthetic.train_per_class", T_INT, OFF(data.synthetic.train_per_class), "100", RANGE(1, 1000000), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Training images per class."},
  {"data.synthetic.test_per_class", T_INT, OFF(data.synthetic.test_per_class), "20", RANGE(1, 1000000), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Test images per class."},
  {"data.synthetic.channels", T_INT, OFF(data.synthetic.channels), "1", RANGE(1, 3), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Channels per image."},
  {"data.synthetic.size", T_INT, OFF(data.synthetic.size), "16", RANGE(4, 256), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Height and width in pixels."},
  {"data.synthetic.noise", T_FLOAT, OFF(data.synthetic.noise), "0.5", RANGE(0, 10), .when = W_SYNTHETIC, .flags = J_ORIGINAL,
   .doc = "Std of the pixel noise around each class's pattern, in [0,1] pixel units; larger is harder."},

  // model
  {"model.arch", T_ENUM, OFF(model.arch), "cnn4", .choices = arch_names, .flags = J_ORIGINAL,
   .doc = "The network: mlp, cnn4, resnet18, resnet50, swin_t (README, Models and data; swin_t: docs/swin.md)."},
  {"model.width", T_INT, OFF(model.width), "0", RANGE(0, 4096), .flags = J_ORIGINAL,
   .doc = "Base width: cnn4's first stage (32), the resnets' stem (64) or swin_t's embedding (96, a multiple of 3: its heads are 3, 6, 12, 24), the other stages scaled alike; 0: the architecture's own. Smaller widths keep the structure at a fraction of the cost."},
  {"model.patch", T_INT, OFF(model.patch), "4", RANGE(1, 64), .when = W_SWIN, .flags = J_ORIGINAL,
   .doc = "swin_t's patch size: the embedding cuts the image into patch x patch squares (torchvision's swin_t: 4 on 224x224). For 32x32 images 2 or 4 (docs/swin.md)."},
  {"model.window", T_INT, OFF(model.window), "7", RANGE(1, 64), .when = W_SWIN, .flags = J_ORIGINAL,
   .doc = "swin_t's attention window, in tokens per side (torchvision's swin_t: 7); every second block shifts it by window/2. For 32x32 images 4 (docs/swin.md)."},
  {"model.stem", T_ENUM, OFF(model.stem), "cifar", .choices = stem_names, .flags = J_ORIGINAL,
   .doc = "The resnets' stem: cifar (conv 3x3 stride 1, BN, ReLU, no pool: for 32x32 images) or imagenet (torchvision's: conv 7x7 stride 2, BN, ReLU, max-pool 3x3 stride 2, so 224x224 images reach layer1 at 56x56; torchvision's and published ImageNet checkpoints load as they are). Only resnet18 and resnet50 take imagenet."},
  {"model.points", T_STRINGS, OFF(model.points), "[]", .flags = J_EC_MODULES,
   .doc = "Supervision points by stage name (mlp: layer1, layer2; cnn4, resnet18, resnet50: layer1 to layer4; swin_t: stage1 to stage4); []: all of them. EC supervises them; CKA and the k-NN probe are measured at them."},
  {"model.original", T_PATH, OFF(model.original), "\"\"", .flags = KF_NOID | J_ORIGINAL,
   .doc = "An ecore checkpoint of the original model to unlearn instead of training one (`scripts/torch_to_ecore.py` converts a PyTorch state_dict; docs/own-models.md). It must match model.arch, model.width, the data set's classes, image shape and normalisation (`ecore plan` checks). Run ids hold a digest of its content, not its path. \"\": train it with the train keys."},
  {"model.retrained", T_PATH, OFF(model.retrained), "\"\"", .flags = KF_NOID | J_FORGET,
   .doc = "An ecore checkpoint of the retrained reference model (trained without the forget set), used instead of training one; checked and identified as model.original is. It must have been trained without exactly the forget set the config makes. \"\": train it with the train keys."},

  // train: the recipe of the original and the retrained model
  {"train.epochs", T_INT, OFF(train.epochs), "20", RANGE(1, 100000), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Epochs of training, for the original and the retrained model."},
  {"train.batch_size", T_INT, OFF(train.batch_size), "128", RANGE(1, 1000000), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Global batch size, split across the ranks of a run (not multiplied by them)."},
  {"train.lr", T_FLOAT, OFF(train.lr), "0.05", ABOVE(0, 10), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Peak learning rate (SGD)."},
  {"train.momentum", T_FLOAT, OFF(train.momentum), "0.9", BELOW(0, 1), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "SGD momentum."},
  {"train.weight_decay", T_FLOAT, OFF(train.weight_decay), "5e-4", RANGE(0, 1), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "L2 weight decay."},
  {"train.nesterov", T_BOOL, OFF(train.nesterov), "false", .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Nesterov momentum."},
  {"train.schedule", T_ENUM, OFF(train.schedule), "cosine", .choices = schedule_names, .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Learning-rate schedule: constant, step (times train.gamma every train.step_size epochs), multistep (times train.gamma at each milestone), cosine (down to 0 over the epochs)."},
  {"train.milestones", T_INTS, OFF(train.milestones), "[]", RANGE(1, 100000), .when = W_MULTISTEP, .flags = J_ORIGINAL,
   .doc = "Epochs at which multistep decays, increasing and below train.epochs; []: at one half and three quarters of train.epochs."},
  {"train.step_size", T_INT, OFF(train.step_size), "0", RANGE(0, 100000), .when = W_STEP, .flags = J_ORIGINAL,
   .doc = "Epochs between decays of the step schedule; 0: a third of train.epochs."},
  {"train.gamma", T_FLOAT, OFF(train.gamma), "0.1", ABOVE(0, 1), .when = W_STEP_OR_MULTISTEP, .flags = J_ORIGINAL,
   .doc = "Decay factor of the step and multistep schedules."},
  {"train.warmup_epochs", T_INT, OFF(train.warmup_epochs), "0", RANGE(0, 100000), .when = W_TRAINS, .flags = J_ORIGINAL,
   .doc = "Epochs of linear warm-up from 0 to train.lr, before the schedule."},
  {"train.checkpoint_every", T_INT, OFF(train.checkpoint.every), "1", RANGE(0, 100000), .when = W_TRAINS, .flags = KF_NOID | KF_NOAXIS,
   .doc = "Epochs between resumable checkpoints of the original and the retrained model's training (`<cache_dir>/original-<id>.partial.h5`, `retrain-<id>.partial.h5`, deleted once the model is saved): a killed, preempted or requeued sweep continues after the last saved epoch, with the same result as an uninterrupted run on the same number of ranks. 0: none. Not part of run ids."},

  // forget
  {"forget.classes", T_INTS, OFF(forget.classes), "[0]", RANGE(0, BIG), .when = W_FORGET_CLASSES, .flags = J_FORGET,
   .doc = "The classes to forget (class-wise forgetting), distinct, within the data set's classes and not all of them."},
  {"forget.random_classes", T_INT, OFF(forget.random_classes), "0", RANGE(0, BIG), .flags = J_FORGET,
   .doc = "Forget this many classes drawn at random instead of forget.classes; 0: off."},
  {"forget.random_fraction", T_FLOAT, OFF(forget.random_fraction), "0", BELOW(0, 1), .flags = J_FORGET,
   .doc = "Forget this fraction of the training images, drawn at random from every class, instead of forget.classes; 0: off. At most one of random_classes and random_fraction may be set."},
  {"forget.split_seed", T_INT, OFF(forget.split_seed), "-1", RANGE(-1, BIG), .when = W_FORGET_RANDOM, .flags = J_FORGET,
   .doc = "Seed that draws the random forget set; -1: the run's seed."},

  // unlearn
  {"unlearn.method", T_ENUM, OFF(unlearn.method), "none", .choices = method_names, .values = method_values,
   .doc = "The base method: none (EC alone, with ec.enabled), ft, ga, neggrad+, rl, salun, l1sparse, scrub, bs, cu, bad_teacher, ssd, unsir, be (usual values: the table at the end of docs/config.md). none with EC off is the original model: a grid drops that pair."},
  {"unlearn.epochs", T_INT, OFF(unlearn.epochs), "0", RANGE(0, 100000), .when = W_UNLEARN_TRAINS,
   .doc = "Epochs of unlearning; 0: the method's usual number (table below)."},
  {"unlearn.lr", T_FLOAT, OFF(unlearn.lr), "0", RANGE(0, 10), .when = W_UNLEARN_TRAINS,
   .doc = "Learning rate of unlearning; 0: the method's usual value (table below)."},
  {"unlearn.batch_size", T_INT, OFF(unlearn.batch_size), "128", RANGE(1, 1000000), .when = W_UNLEARN,
   .doc = "Global batch size of unlearning."},
  {"unlearn.momentum", T_FLOAT, OFF(unlearn.momentum), "0.9", BELOW(0, 1), .when = W_UNLEARN_TRAINS,
   .doc = "SGD momentum of unlearning."},
  {"unlearn.weight_decay", T_FLOAT, OFF(unlearn.weight_decay), "5e-4", RANGE(0, 1), .when = W_UNLEARN_TRAINS,
   .doc = "Weight decay of unlearning."},
  {"unlearn.schedule", T_ENUM, OFF(unlearn.schedule), "constant", .choices = uschedule_names, .values = uschedule_values,
   .doc = "Learning-rate schedule of unlearning, over its epochs (EC alone's too): constant or cosine."},
  {"unlearn.neggrad+.alpha", T_FLOAT, OFF(unlearn.neggrad_plus.alpha), "0.99", RANGE(0, 1), .when = W_NEGGRAD_PLUS,
   .doc = "Weight of the retain CE; the forget term gets 1 - alpha."},
  {"unlearn.salun.q", T_FLOAT, OFF(unlearn.salun.q), "0.5", ABOVE(0, 1), .when = W_SALUN,
   .doc = "Fraction of parameters in the saliency mask (largest gradient magnitude of the forget loss, global ranking)."},
  {"unlearn.l1sparse.alpha", T_FLOAT, OFF(unlearn.l1sparse.alpha), "5e-5", RANGE(0, 1), .when = W_L1SPARSE,
   .doc = "Initial weight of the L1 penalty, decaying linearly to 0."},
  {"unlearn.scrub.temperature", T_FLOAT, OFF(unlearn.scrub.temperature), "4", ABOVE(0, 100), .when = W_SCRUB,
   .doc = "Distillation temperature T."},
  {"unlearn.scrub.gamma", T_FLOAT, OFF(unlearn.scrub.gamma), "0.99", RANGE(0, 1000), .when = W_SCRUB,
   .doc = "Weight of the retain CE in the min passes."},
  {"unlearn.scrub.alpha", T_FLOAT, OFF(unlearn.scrub.alpha), "0.001", RANGE(0, 1000), .when = W_SCRUB,
   .doc = "Weight of the KL term in the min passes."},
  {"unlearn.scrub.max_epochs", T_INT, OFF(unlearn.scrub.max_epochs), "2", RANGE(0, 100000), .when = W_SCRUB,
   .doc = "How many of the first epochs begin with a max pass on the forget set; every epoch has a min pass. At most unlearn.epochs."},
  {"unlearn.bs.eps", T_FLOAT, OFF(unlearn.bs.eps), "0.1", ABOVE(0, 1), .when = W_BS,
   .doc = "FGSM step, in [0,1] pixel units."},
  {"unlearn.bad_teacher.temperature", T_FLOAT, OFF(unlearn.bad_teacher.temperature), "1", ABOVE(0, 100), .when = W_BAD_TEACHER,
   .doc = "Temperature T of the KL between each teacher and the student."},
  {"unlearn.bad_teacher.retain_fraction", T_FLOAT, OFF(unlearn.bad_teacher.retain_fraction), "0.3", ABOVE(0, 1), .when = W_BAD_TEACHER,
   .doc = "Fraction of the retain set, drawn once per run from its seed, that is distilled from the original model beside the forget set."},
  {"unlearn.ssd.alpha", T_FLOAT, OFF(unlearn.ssd.alpha), "10", ABOVE(0, 1e6), .when = W_SSD,
   .doc = "Selection: a parameter is dampened when its forget-set importance exceeds alpha times its training-set importance."},
  {"unlearn.ssd.lambda", T_FLOAT, OFF(unlearn.ssd.lambda), "1", ABOVE(0, 1e6), .when = W_SSD,
   .doc = "Dampening: a selected parameter is multiplied by min(lambda * I_D / I_f, 1)."},
  {"unlearn.unsir.lambda", T_FLOAT, OFF(unlearn.unsir.lambda), "0.1", RANGE(0, 1e6), .when = W_UNSIR,
   .doc = "Weight of the noise's L2 regulariser: the noise minimises -CE(forget class) + lambda * mean squared L2 norm of its images."},
  {"unlearn.unsir.noise_steps", T_INT, OFF(unlearn.unsir.noise_steps), "40", RANGE(0, 100000), .when = W_UNSIR,
   .doc = "Adam steps on the noise, at the original model before unlearning."},
  {"unlearn.unsir.noise_lr", T_FLOAT, OFF(unlearn.unsir.noise_lr), "0.1", ABOVE(0, 100), .when = W_UNSIR,
   .doc = "Adam learning rate of the noise."},
  {"unlearn.unsir.noise_per_class", T_INT, OFF(unlearn.unsir.noise_per_class), "256", RANGE(1, 1000000), .when = W_UNSIR,
   .doc = "Noise images per class of the forget set; in the impair phase each forget image's place is taken by one of its class's."},
  {"unlearn.unsir.retain_fraction", T_FLOAT, OFF(unlearn.unsir.retain_fraction), "0.2", ABOVE(0, 1), .when = W_UNSIR,
   .doc = "Fraction of the retain set, drawn once per run from its seed, that the impair and repair phases train on."},
  {"unlearn.unsir.repair_lr_scale", T_FLOAT, OFF(unlearn.unsir.repair_lr_scale), "0.5", ABOVE(0, 100), .when = W_UNSIR,
   .doc = "Learning rate of the repair phase as a multiple of unlearn.lr (the impair phase's)."},
  {"unlearn.cu.temperature", T_FLOAT, OFF(unlearn.cu.temperature), "0.7", ABOVE(0, 100), .when = W_CU,
   .doc = "Temperature of the contrastive loss at the last features."},

  // ec
  {"ec.enabled", T_BOOL, OFF(ec.enabled), "true",
   .doc = "Erase at the Core: alone (unlearn.method none) or plugged into the base method."},
  {"ec.temperature", T_FLOAT, OFF(ec.temperature), "0.7", ABOVE(0, 100), .when = W_EC,
   .doc = "Temperature tau of the contrastive loss."},
  {"ec.lambda_cu", T_FLOAT, OFF(ec.lambda_cu), "3", RANGE(0, 1e6), .when = W_EC,
   .doc = "Weight of the contrastive unlearning loss at each point."},
  {"ec.lambda_ce", T_FLOAT, OFF(ec.lambda_ce), "1", RANGE(0, 1e6), .when = W_EC,
   .doc = "Weight of the deeply supervised retain CE at each point."},
  {"ec.log_eps", T_FLOAT, OFF(ec.log_eps), "1e-8", ABOVE(0, 1), .when = W_EC_OR_CU,
   .doc = "Epsilon inside the log of the contrastive loss (EC's, and the cu method's)."},
  {"ec.layer_weights", T_WEIGHTS, OFF(ec.layer_weights), "uniform", RANGE(0, 1e6), .choices = scheme_names, .when = W_EC,
   .doc = "Weight of each supervision point: a list, one weight per point, or a scheme: uniform, increasing (proportional to the point's index), decreasing, cka (proportional to the current CKA to the original, re-measured every ec.cka_every steps)."},
  {"ec.cka_every", T_INT, OFF(ec.cka_every), "20", RANGE(1, BIG), .when = W_EC_CKA,
   .doc = "Steps between CKA measurements of the cka scheme, on one probe batch."},
  {"ec.variant", T_ENUM, OFF(ec.variant), "cu", .choices = variant_names, .when = W_EC,
   .doc = "Contrastive loss: cu (forget batch against retain batch) or forget_only (SupCon-style within the forget batch)."},
  {"ec.pull", T_ENUM, OFF(ec.pull), "mean", .choices = pull_names, .when = W_EC,
   .doc = "How the positives of a forget sample pull it: mean (every retain sample of another class alike, the formula of the method's first specification; in class-wise forgetting the temperature then only scales the loss) or nearest (-log of the mean of exp(s/tau) over the positives: the nearest retain samples pull most, the temperature sets how near). See docs/ec-study.md."},
  {"ec.push_original", T_BOOL, OFF(ec.push_original), "false", .when = W_EC,
   .doc = "Add the original model's embedding of the same image as a negative."},
  {"ec.detach_retain", T_BOOL, OFF(ec.detach_retain), "true", .when = W_EC,
   .doc = "The contrastive loss moves the forget embeddings only; the retain embeddings are its fixed targets (false: both are pulled toward each other, as in the Contrastive Unlearning code). See docs/ec-study.md."},
  {"ec.freeze_bn", T_BOOL, OFF(ec.freeze_bn), "false", .when = W_EC,
   .doc = "Run the backbone's BatchNorm in eval mode during unlearning (the original's running statistics, kept; scale and shift still learn) instead of on the step's batch, whose forget half is one or a few classes. Applies to the whole step, the base method's loss included. See docs/ec-study.md."},
  {"ec.head", T_ENUM, OFF(ec.aux.head), "none", .choices = head_names, .when = W_EC, .flags = J_EC_MODULES,
   .doc = "How the embedding z of the contrastive loss is formed from the pooled features h: none (z = h/norm(h): the loss moves the backbone's features themselves), mlp (projection head Linear-ReLU-Linear, trained during unlearning), frozen (the same head, kept as pretrained: random unless ec.pretrain.supcon). A trained head can absorb the loss by collapsing z (docs/ec-study.md)."},
  {"ec.summariser", T_ENUM, OFF(ec.aux.summariser), "gap", .choices = summariser_names, .when = W_EC, .flags = J_EC_MODULES,
   .doc = "Auxiliary summariser: gap (global average pooling) or conv (stride-2 3x3 conv-BN-ReLU blocks down to the last stage, then pooling; not for mlp)."},
  {"ec.proj_dim", T_INT, OFF(ec.aux.proj_dim), "128", RANGE(1, 65536), .when = W_EC_HEAD, .flags = J_EC_MODULES,
   .doc = "Output size of the projection heads (ec.head mlp or frozen)."},
  {"ec.own_head_last", T_BOOL, OFF(ec.aux.own_head_last), "true", .when = W_EC, .flags = J_EC_MODULES,
   .doc = "At the last point, use the network's own head instead of an auxiliary classifier."},
  {"ec.batch_size", T_INT, OFF(ec.batch_size), "64", RANGE(1, 1000000), .when = W_EC_ALONE,
   .doc = "EC alone: forget images per step; each retain batch has the same size (plugged into a method, the step is the method's: unlearn.batch_size)."},
  {"ec.retain_per_forget", T_INT, OFF(ec.retain_per_forget), "4", RANGE(1, 64), .when = W_EC,
   .doc = "Retain batches per forget batch: EC alone and forget-driven methods add this many retain batches to each step's forget batch (one step, one BatchNorm batch); with ft and l1sparse each step adds unlearn.batch_size/this forget images. 4 keeps a step's BatchNorm statistics mostly retain images (docs/ec-study.md)."},
  {"ec.epochs", T_INT, OFF(ec.epochs), "5", RANGE(1, 100000), .when = W_EC_ALONE,
   .doc = "Epochs over the forget set when EC runs alone; plugged in, the base method's schedule rules."},
  {"ec.lr", T_FLOAT, OFF(ec.lr), "0.01", ABOVE(0, 10), .when = W_EC_ALONE,
   .doc = "Learning rate when EC runs alone."},
  {"ec.momentum", T_FLOAT, OFF(ec.momentum), "0.9", BELOW(0, 1), .when = W_EC_ALONE,
   .doc = "SGD momentum when EC runs alone."},
  {"ec.weight_decay", T_FLOAT, OFF(ec.weight_decay), "5e-4", RANGE(0, 1), .when = W_EC_ALONE,
   .doc = "Weight decay when EC runs alone."},
  {"ec.pretrain.epochs", T_INT, OFF(ec.pretrain.epochs), "5", RANGE(1, 100000), .when = W_EC, .flags = J_EC_MODULES,
   .doc = "Epochs of auxiliary-module pretraining on the full training set, the original frozen."},
  {"ec.pretrain.batch_size", T_INT, OFF(ec.pretrain.batch_size), "128", RANGE(1, 1000000), .when = W_EC, .flags = J_EC_MODULES,
   .doc = "Batch size of module pretraining."},
  {"ec.pretrain.lr", T_FLOAT, OFF(ec.pretrain.lr), "0.01", ABOVE(0, 10), .when = W_EC, .flags = J_EC_MODULES,
   .doc = "Learning rate of module pretraining."},
  {"ec.pretrain.supcon", T_BOOL, OFF(ec.pretrain.supcon), "false", .when = W_EC_SUPCON, .flags = J_EC_MODULES,
   .doc = "Add a supervised-contrastive loss on the embeddings during module pretraining (it trains the projection heads and the conv summariser; the original stays frozen)."},

  // eval
  {"eval.cka", T_BOOL, OFF(eval.cka), "true",
   .doc = "Linear CKA to the original and the retrained model at every supervision point."},
  {"eval.cka_batch", T_INT, OFF(eval.cka_batch), "512", RANGE(2, 1000000), .when = W_EVAL_CKA,
   .doc = "Images per CKA batch; CKA is averaged over batches, in data-set order."},
  {"eval.cka_min_last", T_INT, OFF(eval.cka_min_last), "0", RANGE(0, 1000000), .when = W_EVAL_CKA,
   .doc = "A trailing partial CKA batch is averaged in only if it holds at least this many images (always when it is the only batch): small batches inflate linear CKA. 0: half of eval.cka_batch."},
  {"eval.knn", T_BOOL, OFF(eval.knn), "true",
   .doc = "k-NN probe accuracy on the forgotten classes at every supervision point."},
  {"eval.knn_k", T_INT, OFF(eval.knn_k), "5", RANGE(1, 1000), .when = W_EVAL_KNN,
   .doc = "Neighbours of the k-NN probe (cosine similarity)."},
  {"eval.knn_probe_size", T_INT, OFF(eval.knn_probe_size), "5000", RANGE(0, BIG), .when = W_EVAL_KNN,
   .doc = "Labelled training images (all classes) the probe searches; 0: the whole training set."},
  {"eval.mia", T_BOOL, OFF(eval.mia), "true",
   .doc = "Membership-inference efficacy on the forget set."},
  {"eval.mia_samples", T_INT, OFF(eval.mia_samples), "5000", RANGE(0, BIG), .when = W_EVAL_MIA,
   .doc = "Members (retain) and non-members (test) each used to fit the attack; 0: as many as the smaller set."},
  {"eval.mia_model", T_ENUM, OFF(eval.mia_model), "logistic", .choices = mia_model_names, .when = W_EVAL_MIA,
   .doc = "The attack: logistic (logistic regression on the softmax probability of the true label and the entropy) or svm (SalUn's: an RBF SVM, libsvm with C 3 and gamma 1, on the probability of the true label; see docs/methods.md)."},
  {"eval.batch_size", T_INT, OFF(eval.batch_size), "512", RANGE(1, 1000000), .flags = KF_NOID,
   .doc = "Images per forward pass during evaluation (speed only; not part of run ids)."},

  // sweep
  {"sweep.seeds", T_INTS, OFF(sweep.seeds), "[0]", RANGE(0, BIG), .flags = KF_NOID | KF_CASE_ONLY,
   .doc = "Seeds; every run is repeated for each. A seed fixes the data order, the initialisation and the random forget set. A case may set its own."},
  {"sweep.grid", T_GRID, 0, "{}", .flags = KF_NOID | KF_NOAXIS,
   .doc = "Axes of the grid: a mapping from a dotted key to a list of values; the runs are the product of the axes (see Grids, cases and seeds)."},
  {"sweep.cases", T_CASES, 0, "[]", .flags = KF_NOID | KF_NOAXIS,
   .doc = "Explicit runs beyond the grid: a list of mappings from dotted keys to values (see Grids, cases and seeds)."},
  {"sweep.ranks_per_run", T_INT, OFF(sweep.ranks_per_run), "1", RANGE(1, 1000000), .flags = KF_NOID | KF_NOAXIS,
   .doc = "MPI ranks that train one run data-parallel; the world is split into groups of this size."},

  // output
  {"output.file", T_STRING, OFF(output.file), "results.h5", .flags = KF_NOID | KF_NOAXIS,
   .doc = "The results file (HDF5); `ecore sweep --out` overrides it."},
  {"output.cache_dir", T_STRING, OFF(output.cache_dir), "ecore_cache", .flags = KF_NOID | KF_NOAXIS,
   .doc = "Directory of the shared checkpoints (original and retrained models, EC modules), named by job id."},
  {"output.save_models", T_BOOL, OFF(output.save_models), "false", .flags = KF_NOID | KF_NOAXIS,
   .doc = "Save each run's unlearned model."},
  {"output.models_dir", T_STRING, OFF(output.models_dir), "models", .when = W_SAVE_MODELS, .flags = KF_NOID | KF_NOAXIS,
   .doc = "Directory of the unlearned models, one file per run id."},
};
// clang-format on
const int config_schema_n = sizeof config_schema / sizeof config_schema[0];

int config_key_index(const char *key) {
  for (int i = 0; i < config_schema_n; i++)
    if (!strcmp(config_schema[i].key, key)) return i;
  return -1;
}

int config_is_section(const char *prefix) {
  size_t n = strlen(prefix);
  for (int i = 0; i < config_schema_n; i++)
    if (!strncmp(config_schema[i].key, prefix, n) && config_schema[i].key[n] == '.') return 1;
  return 0;
}

// The train keys matter unless both models are given.
static int trains(const Config *c) {
  return !(c->model.original && *c->model.original && c->model.retrained && *c->model.retrained);
}

static int is_method(const Config *c, UnlearnMethod m) {
  return c->unlearn.method == m;
}

int config_applies(When w, const Config *c) {
  int random = c->forget.random_classes > 0 || c->forget.random_fraction > 0;
  CfgAugment aug = c->data.augment;
  switch (w) {
    case W_ALWAYS:
      return 1;
    case W_FILE_DATA:
      return c->data.name != CFG_DATA_SYNTHETIC;
    case W_SYNTHETIC:
      return c->data.name == CFG_DATA_SYNTHETIC;
    case W_NORMALIZE:
      return c->data.normalize;
    case W_CROP:
      return aug == CFG_AUG_CROP || aug == CFG_AUG_CROP_FLIP;
    case W_STEP:
      return trains(c) && c->train.schedule == SCHED_STEP;
    case W_MULTISTEP:
      return trains(c) && c->train.schedule == SCHED_MULTISTEP;
    case W_STEP_OR_MULTISTEP:
      return trains(c) && (c->train.schedule == SCHED_STEP || c->train.schedule == SCHED_MULTISTEP);
    case W_FORGET_CLASSES:
      return !random;
    case W_FORGET_RANDOM:
      return random;
    case W_UNLEARN:
      return !is_method(c, UNLEARN_NONE);
    case W_UNLEARN_TRAINS:
      return !is_method(c, UNLEARN_NONE) && !is_method(c, UNLEARN_SSD);
    case W_NEGGRAD_PLUS:
      return is_method(c, UNLEARN_NEGGRAD_PLUS);
    case W_SALUN:
      return is_method(c, UNLEARN_SALUN);
    case W_L1SPARSE:
      return is_method(c, UNLEARN_L1SPARSE);
    case W_SCRUB:
      return is_method(c, UNLEARN_SCRUB);
    case W_BS:
      return is_method(c, UNLEARN_BS);
    case W_CU:
      return is_method(c, UNLEARN_CU);
    case W_BAD_TEACHER:
      return is_method(c, UNLEARN_BAD_TEACHER);
    case W_SSD:
      return is_method(c, UNLEARN_SSD);
    case W_UNSIR:
      return is_method(c, UNLEARN_UNSIR);
    case W_EC:
      return c->ec.enabled;
    case W_EC_OR_CU:
      return c->ec.enabled || is_method(c, UNLEARN_CU);
    case W_EC_ALONE:
      return c->ec.enabled && (is_method(c, UNLEARN_NONE) || is_method(c, UNLEARN_SSD));
    case W_EC_CKA:
      return c->ec.enabled && c->ec.layer_weights.scheme == EC_WEIGHTS_CKA;
    case W_EC_HEAD:
      return c->ec.enabled && c->ec.aux.head != AUX_HEAD_NONE;
    case W_EC_SUPCON:
      return c->ec.enabled &&
             (c->ec.aux.head != AUX_HEAD_NONE || c->ec.aux.summariser == AUX_SUMMARISER_CONV);
    case W_EVAL_CKA:
      return c->eval.cka;
    case W_EVAL_KNN:
      return c->eval.knn;
    case W_EVAL_MIA:
      return c->eval.mia;
    case W_SAVE_MODELS:
      return c->output.save_models;
    case W_TRAINS:
      return trains(c);
    case W_SWIN:
      return c->model.arch == ARCH_SWIN_T;
    case W_COUNT:
      break;
  }
  return 1;
}

static const char *const when_text[W_COUNT] = {
    [W_FILE_DATA] = "data.name is not synthetic",
    [W_SYNTHETIC] = "data.name is synthetic",
    [W_NORMALIZE] = "data.normalize",
    [W_CROP] = "data.augment crops (crop, crop_flip, or auto on cifar)",
    [W_STEP] = "train.schedule is step (and a model is trained)",
    [W_MULTISTEP] = "train.schedule is multistep (and a model is trained)",
    [W_STEP_OR_MULTISTEP] = "train.schedule is step or multistep (and a model is trained)",
    [W_FORGET_CLASSES] = "forget.random_classes and forget.random_fraction are 0",
    [W_FORGET_RANDOM] = "forget.random_classes or forget.random_fraction is set",
    [W_UNLEARN] = "unlearn.method is not none",
    [W_UNLEARN_TRAINS] = "unlearn.method is not none or ssd",
    [W_NEGGRAD_PLUS] = "unlearn.method is neggrad+",
    [W_SALUN] = "unlearn.method is salun",
    [W_L1SPARSE] = "unlearn.method is l1sparse",
    [W_SCRUB] = "unlearn.method is scrub",
    [W_BS] = "unlearn.method is bs",
    [W_CU] = "unlearn.method is cu",
    [W_BAD_TEACHER] = "unlearn.method is bad_teacher",
    [W_SSD] = "unlearn.method is ssd",
    [W_UNSIR] = "unlearn.method is unsir",
    [W_EC] = "ec.enabled",
    [W_EC_OR_CU] = "ec.enabled or unlearn.method is cu",
    [W_EC_ALONE] = "ec.enabled and unlearn.method is none or ssd",
    [W_EC_CKA] = "ec.enabled and ec.layer_weights is cka",
    [W_EC_HEAD] = "ec.enabled and ec.head is mlp or frozen",
    [W_EC_SUPCON] = "ec.enabled and ec.head is not none or ec.summariser is conv",
    [W_EVAL_CKA] = "eval.cka",
    [W_EVAL_KNN] = "eval.knn",
    [W_EVAL_MIA] = "eval.mia",
    [W_SAVE_MODELS] = "output.save_models",
    [W_TRAINS] = "model.original or model.retrained is \"\" (a model is trained)",
    [W_SWIN] = "model.arch is swin_t",
};

const char *config_when_text(When w) {
  return w > W_ALWAYS && w < W_COUNT ? when_text[w] : NULL;
}

int config_enum_value(const KeySpec *k, int i) {
  return k->values ? k->values[i] : i;
}

int config_enum_index(const KeySpec *k, int value) {
  for (int i = 0; k->choices[i]; i++)
    if (config_enum_value(k, i) == value) return i;
  return -1;
}

const char *config_enum_name(const KeySpec *k, int value) {
  const int i = config_enum_index(k, value);
  return i >= 0 ? k->choices[i] : "?";
}

int config_num_classes(const Config *c) {
  switch (c->data.name) {
    case CFG_DATA_MNIST:
    case CFG_DATA_FASHION_MNIST:
    case CFG_DATA_CIFAR10:
      return 10;
    case CFG_DATA_CIFAR100:
      return 100;
    case CFG_DATA_SYNTHETIC:
      return c->data.synthetic.classes;
    case CFG_DATA_HDF5:
      return 0;
  }
  return 0;
}

void config_image_shape(const Config *c, int shape[3]) {
  shape[0] = shape[1] = shape[2] = 0;
  switch (c->data.name) {
    case CFG_DATA_MNIST:
    case CFG_DATA_FASHION_MNIST:
      shape[0] = 1, shape[1] = shape[2] = 28;
      break;
    case CFG_DATA_CIFAR10:
    case CFG_DATA_CIFAR100:
      shape[0] = 3, shape[1] = shape[2] = 32;
      break;
    case CFG_DATA_SYNTHETIC:
      shape[0] = c->data.synthetic.channels;
      shape[1] = shape[2] = c->data.synthetic.size;
      break;
    case CFG_DATA_HDF5:
      break;
  }
}
