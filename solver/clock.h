// clock.h: wall time for progress lines, ETAs and the time columns of results.
#pragma once

// Seconds on the monotonic clock (differences only: the origin is arbitrary).
double clock_now(void);
