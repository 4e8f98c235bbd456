/* The part of test_handles compiled with TDILL_DISABLE_RAW_NAMES. */
#ifndef TDILL_TESTS_RAW_NAMES_OFF_H
#define TDILL_TESTS_RAW_NAMES_OFF_H

/* Exchanges data through tdill_* names only; returns 0, or the failed step. */
int raw_names_off_roundtrip(void);

#endif
