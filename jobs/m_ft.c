// m_ft.c: fine-tuning on D_r, CE(retain). An epoch is one pass over D_r; with EC, each step adds
// max(1, B/retain_per_forget) cycled forget images (EC's anchors).
#include "run.h"

const UnlearnMethodDef method_ft = {
    .name = "ft",
    .usual_lr = 0.01,
    .usual_epochs = 10,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_RETAIN,
               .extra = EXTRA_EC_B_RPF,
               .ec_cu = 1,
               .ec_ce = 1,
               .loss = loss_ce_retain}},
};
