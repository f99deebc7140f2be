/* libFuzzer harness: any string through the device-spec grammar, against a fixed list of
 * devices (the host; OpenCL's GPU, CPU and accelerator), so no driver is needed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static clt_device_info devs[4]; /* the host, then three OpenCL devices */
  if (!devs[0].spec[0]) {
    snprintf(devs[0].spec, sizeof devs[0].spec, "host");
    devs[0].type = CLT_DEVICE_HOST;
    const char *names[3][3] = {{"NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA H100"},
                               {"Portable Computing Language", "The pocl project", "pthread-skylake"},
                               {"Intel(R) FPGA", "Intel(R) Corporation", "fpga-emu"}};
    const clt_device_type types[3] = {CLT_DEVICE_GPU, CLT_DEVICE_CPU, CLT_DEVICE_ACCELERATOR};
    for (int i = 0; i < 3; i++) {
      clt_device_info *d = &devs[i + 1];
      snprintf(d->spec, sizeof d->spec, "cl:%d", i);
      snprintf(d->driver, sizeof d->driver, "%s", names[i][0]);
      snprintf(d->driver_vendor, sizeof d->driver_vendor, "%s", names[i][1]);
      snprintf(d->vendor, sizeof d->vendor, "%s", names[i][1]);
      snprintf(d->name, sizeof d->name, "%s", names[i][2]);
      d->type = types[i];
    }
  }
  char spec[256];
  size_t n = size < sizeof spec - 1 ? size : sizeof spec - 1;
  memcpy(spec, data, n);
  spec[n] = '\0';
  size_t index = 99;
  const char *why = NULL;
  clt_status st = clt__spec_resolve(spec, devs, 4, &index, &why);
  /* a success names one of the four devices, of the backend the spec's prefix names */
  if (st == CLT_OK && (index > 3 || strncmp(spec, devs[index].spec, strcspn(devs[index].spec, ":")) != 0))
    __builtin_trap();
  if (st != CLT_OK && st != CLT_ERR_NO_DEVICE) __builtin_trap();
  return 0;
}
