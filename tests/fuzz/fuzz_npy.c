/* libFuzzer harness: any bytes through the .npy parser, on the host device. */
#include <stddef.h>
#include <stdint.h>

#include "clt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  clt_tensor *t = NULL;
  if (clt_parse_npy(data, size, NULL, &t) == CLT_OK) {
    /* a parsed tensor must be usable: format it back */
    void *buf;
    size_t len;
    if (clt_format_npy(t, &buf, &len) == CLT_OK) clt_free(buf);
  }
  clt_release(t);
  clt_clear_error();
  return 0;
}
