/* What the loading harnesses do with every tensor a file gave them: the first operations a
 * user runs (sum, contiguous, print, cat with itself), on the host, so that a file the loaders
 * accept but the ops cannot take (an empty tensor with dims whose product overflows, say) is
 * found by the fuzzer too. Errors are expected and cleared; a crash, a leak or undefined
 * behaviour (UBSan) fails the run. */
#ifndef CLT_FUZZ_OPS_H
#define CLT_FUZZ_OPS_H

#include <stdio.h>

#include "clt.h"

static inline void fuzz_ops(clt_tensor *t) {
  static FILE *sink;
  if (!sink) sink = fopen("/dev/null", "w");
  clt_scope_begin();
  double v;
  clt_tensor *s = clt_sum(t, CLT_ALL_DIMS, false);
  if (s) (void)clt_item(s, &v);
  (void)clt_contiguous(t);
  if (sink) (void)clt_print(t, sink);
  if (clt_ndim(t) > 0) {
    clt_tensor *two[2] = {t, t};
    (void)clt_sum(clt_cat(2, two, 0), CLT_ALL_DIMS, false);
    (void)clt_cat(2, two, -1);
  }
  clt_scope_end();
  clt_clear_error();
}

static inline void fuzz_ops_list(clt_tensor_list *l) {
  for (int i = 0; i < clt_tensor_list_size(l); i++) {
    clt_tensor *t = clt_tensor_list_at(l, i);
    (void)clt_tensor_list_name(l, i);
    fuzz_ops(t);
    clt_release(t);
  }
}

#endif
