/* libFuzzer harness: any bytes through the safetensors parser, on the host device; what loads
 * is run through the first ops (fuzz_ops.h). fuzz_safetensors_struct.c writes the JSON itself
 * so the rules behind the JSON are reached. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  clt_tensor_list *l = NULL;
  if (clt_parse_safetensors(data, size, NULL, &l) == CLT_OK) fuzz_ops_list(l);
  clt_tensor_list_release(l);
  clt_clear_error();
  return 0;
}
