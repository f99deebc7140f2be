/* libFuzzer harness: any bytes through the safetensors parser, on the host device. */
#include <stddef.h>
#include <stdint.h>

#include "clt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  clt_tensor_list *l = NULL;
  if (clt_parse_safetensors(data, size, NULL, &l) == CLT_OK) {
    for (int i = 0; i < clt_tensor_list_size(l); i++) {
      clt_tensor *t = clt_tensor_list_get(l, i);
      (void)clt_tensor_list_name(l, i);
      clt_release(t);
    }
  }
  clt_tensor_list_release(l);
  clt_clear_error();
  return 0;
}
