/* libFuzzer harness: any string through the device-spec grammar, against a fixed list of
 * OpenCL devices (a GPU, a CPU, an accelerator), so no driver is needed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static clt_device_info devs[3];
  if (!devs[0].spec[0]) {
    const char *names[3][3] = {{"NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA H100"},
                               {"Portable Computing Language", "The pocl project", "pthread-skylake"},
                               {"Intel(R) FPGA", "Intel(R) Corporation", "fpga-emu"}};
    const clt_device_type types[3] = {CLT_DEVICE_GPU, CLT_DEVICE_CPU, CLT_DEVICE_ACCELERATOR};
    for (int i = 0; i < 3; i++) {
      snprintf(devs[i].spec, sizeof devs[i].spec, "cl:%d", i);
      snprintf(devs[i].platform, sizeof devs[i].platform, "%s", names[i][0]);
      snprintf(devs[i].platform_vendor, sizeof devs[i].platform_vendor, "%s", names[i][1]);
      snprintf(devs[i].vendor, sizeof devs[i].vendor, "%s", names[i][1]);
      snprintf(devs[i].name, sizeof devs[i].name, "%s", names[i][2]);
      devs[i].type = types[i];
    }
  }
  char spec[256];
  size_t n = size < sizeof spec - 1 ? size : sizeof spec - 1;
  memcpy(spec, data, n);
  spec[n] = '\0';
  long index = -2;
  const char *why = NULL;
  clt_status st = clt__spec_resolve(spec, devs, 3, &index, &why);
  /* a success names the host or one of the three devices */
  if (st == CLT_OK && (index < -1 || index > 2)) __builtin_trap();
  if (st != CLT_OK && st != CLT_ERR_NO_DEVICE) __builtin_trap();
  return 0;
}
