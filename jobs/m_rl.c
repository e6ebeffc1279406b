// m_rl.c: random labels. An epoch is one pass over D_f ∪ D_r shuffled together; CE over every
// row, each forget image relabelled with a class drawn per (epoch, image) (random_label_targets,
// m_common.c). With EC, the batch's forget images are the anchors, its retain images the
// candidates.
#include "run.h"

const UnlearnMethodDef method_rl = {
    .name = "rl",
    .usual_lr = 0.01,
    .usual_epochs = 10,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_UNION, .ec_cu = 1, .ec_ce = 1, .loss = loss_ce_targets}},
    .step = random_label_targets,
};
