// m_none.c: no base method, EC alone (unlearn_run is a no-op unless ec.enabled). An epoch is one
// pass over D_f in batches of ec.batch_size, each step adding retain_per_forget·B cycled retain
// images; the loss is EC's alone; lr, epochs, momentum and weight decay are EcSpec's.
#include "run.h"

const UnlearnMethodDef method_none = {
    .name = "none",
    .ec_alone = 1,
    .n_phases = 1,
    .phase = {{.name = "ec", .drive = DRIVE_FORGET, .extra = EXTRA_RPF_B, .ec_cu = 1, .ec_ce = 1}},
};
