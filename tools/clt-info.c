/* clt-info: lists every device clt can open, marks the default and says why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt.h"

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

/* Each backend of the build and what it runs on, or why it lists no device (a missing OpenCL
 * ICD loader, say): JSON objects or text lines. */
static void print_backends(bool json) {
  if (json) printf(", \"backends\": [");
  for (size_t i = 0; clt_backend_name(i); i++) {
    const char *name = clt_backend_name(i);
    char note[1024];
    bool ok = clt_backend_get_status(name, note, sizeof note) == CLT_OK;
    clt_clear_error();
    if (json) {
      printf("%s{\"name\": ", i ? ", " : "");
      json_str(name);
      printf(", \"available\": %s, \"note\": ", ok ? "true" : "false");
      json_str(note);
      putchar('}');
    } else {
      printf("  backend %-5s %s%s\n", name, ok ? "" : "unavailable: ", note);
    }
  }
  if (json) putchar(']');
}

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

static void usage(FILE *f) {
  fprintf(f,
          "usage: clt-info [--json] [--help]\n"
          "Lists the devices clt can open: the host and every device of the build's other backends\n"
          "(OpenCL), with the spec string that opens each (clt_device_open, --device, $CLT_DEVICE).\n"
          "'*' marks the default. First, each backend and the libraries it loaded (OpenCL's ICD loader\n"
          "and CLBlast, named by $CLT_OPENCL_LIBRARY and $CLT_CLBLAST_LIBRARY if set), or why it\n"
          "lists no device. Then the library that runs float32 matrix products on the CPU, and why.\n");
}

int main(int argc, char **argv) {
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) json = true;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "clt-info: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  size_t n = 0;
  if (clt_device_list(NULL, 0, &n) != CLT_OK) {
    fprintf(stderr, "clt-info: %s\n", clt_last_error());
    return 1;
  }
  clt_device_info *info = calloc(n, sizeof *info);
  if (!info || clt_device_list(info, n, &n) != CLT_OK) {
    fprintf(stderr, "clt-info: %s\n", info ? clt_last_error() : "out of memory");
    free(info);
    return 1;
  }
  char def[32] = "", why[128] = "";
  clt_status dst = clt_device_default(def, sizeof def, why, sizeof why);
  if (dst != CLT_OK) snprintf(why, sizeof why, "%s", clt_last_error());
  if (json) {
    printf("{\"version\": \"%s\", \"default\": ", clt_version());
    json_str(def);
    printf(", \"default_reason\": ");
    json_str(why);
    print_backends(true);
    printf(", \"cpu_gemm\": ");
    json_str(clt_cpu_gemm_provider());
    printf(", \"devices\": [");
    for (size_t i = 0; i < n; i++) {
      const clt_device_info *d = &info[i];
      printf("%s\n  {\"spec\": ", i ? "," : "");
      json_str(d->spec);
      printf(", \"type\": \"%s\", \"backend\": ", clt_device_type_name(d->type));
      json_str(d->backend);
      printf(", \"backend_version\": ");
      json_str(d->backend_version);
      printf(", \"driver\": ");
      json_str(d->driver);
      printf(", \"driver_vendor\": ");
      json_str(d->driver_vendor);
      printf(", \"driver_version\": ");
      json_str(d->driver_version);
      printf(", \"vendor\": ");
      json_str(d->vendor);
      printf(", \"name\": ");
      json_str(d->name);
      printf(", \"compute_units\": %u, \"global_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, "
             "\"max_work_group_size\": %llu, \"fp64\": %s, \"fp16\": %s, \"host_unified_memory\": %s, "
             "\"default\": %s}",
             d->compute_units, (unsigned long long)d->global_mem_bytes, (unsigned long long)d->max_alloc_bytes,
             (unsigned long long)d->max_work_group_size, d->fp64 ? "true" : "false", d->fp16 ? "true" : "false",
             d->host_unified_memory ? "true" : "false", strcmp(d->spec, def) == 0 ? "true" : "false");
    }
    printf("\n]}\n");
  } else {
    printf("clt %s: %zu device%s\n", clt_version(), n, n == 1 ? "" : "s");
    print_backends(false);
    for (size_t i = 0; i < n; i++) {
      const clt_device_info *d = &info[i];
      bool is_def = strcmp(d->spec, def) == 0;
      printf("\n%s %-6s %s\n", is_def ? "*" : " ", d->spec, d->name);
      if (is_def) printf("    default      yes: %s\n", why);
      printf("    type         %s\n", clt_device_type_name(d->type));
      printf("    backend      %s%s%s\n", d->backend, *d->backend_version ? ": " : "", d->backend_version);
      printf("    vendor       %s\n", d->vendor);
      if (*d->driver) printf("    driver       %s (%s) %s\n", d->driver, d->driver_vendor, d->driver_version);
      else printf("    driver       %s\n", d->driver_version);
      if (d->type != CLT_DEVICE_HOST) {
        printf("    memory       %.2f GiB (largest allocation %.2f GiB)\n", gib(d->global_mem_bytes),
               gib(d->max_alloc_bytes));
        printf("    compute      %u units, work-groups up to %llu\n", d->compute_units,
               (unsigned long long)d->max_work_group_size);
      }
      printf("    fp64 / fp16  %s / %s%s\n", d->fp64 ? "yes" : "no", d->fp16 ? "yes" : "no",
             d->host_unified_memory && d->type != CLT_DEVICE_HOST ? "; memory shared with the host" : "");
    }
    if (dst != CLT_OK) printf("\ndefault: none: %s\n", why);
    /* measured here (a few ms): the host's products, and those of CPU devices sharing its memory */
    printf("\nCPU GEMM (float32): %s\n", clt_cpu_gemm_provider());
  }
  free(info);
  return dst == CLT_OK ? 0 : 1;
}
