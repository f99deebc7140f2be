/* libFuzzer harness: any bytes through the .npy parser, on the host device; what loads is
 * formatted back and run through the first ops (fuzz_ops.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  clt_tensor *t = NULL;
  if (clt_parse_npy(data, size, NULL, &t) == CLT_OK) {
    void *buf;
    size_t len;
    if (clt_format_npy(t, &buf, &len) == CLT_OK) clt_free(buf);
    fuzz_ops(t);
  }
  clt_release(t);
  clt_clear_error();
  return 0;
}
