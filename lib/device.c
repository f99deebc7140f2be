/* Device handles, the spec grammar of DESIGN.md, and device listing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

clt_device *clt__device_new(const clt__backend *be, void *impl) {
  clt_device *dev = clt__calloc(1, sizeof *dev);
  if (!dev) return NULL;
  atomic_init(&dev->refs, 1);
  dev->be = be;
  dev->impl = impl;
  CLT__LIVE_INC(CLT__LIVE_DEVICES);
  return dev;
}

bool clt__is_host(const clt_device *dev) { return dev->be == &clt__host_backend; }

bool clt__same_device(const clt_device *a, const clt_device *b) {
  return a == b || (clt__is_host(a) && clt__is_host(b));
}

clt_status clt__host_for(clt_device *dev, clt_device **host) {
  *host = NULL;
  if (dev && clt__is_host(dev)) {
    *host = clt_device_retain(dev);
    return CLT_OK;
  }
  return clt__host_open(host);
}

clt_device *clt_device_retain(clt_device *dev) {
  if (dev) atomic_fetch_add(&dev->refs, 1);
  return dev;
}

void clt_device_release(clt_device *dev) {
  if (!dev || atomic_fetch_sub(&dev->refs, 1) != 1) return;
  dev->be->destroy(dev);
  clt__free_mem(dev);
  CLT__LIVE_DEC(CLT__LIVE_DEVICES);
}

clt_status clt_device_get_info(const clt_device *dev, clt_device_info *out) {
  clt__api("clt_device_get_info");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = dev->info;
  return CLT_OK;
}

const char *clt_device_spec(const clt_device *dev) { return dev ? dev->info.spec : ""; }

clt_device_type clt_device_get_type(const clt_device *dev) {
  return dev ? dev->info.type : CLT_DEVICE_OTHER;
}

const char *clt_device_type_name(clt_device_type type) {
  switch (type) {
    case CLT_DEVICE_HOST: return "host";
    case CLT_DEVICE_CPU: return "cpu";
    case CLT_DEVICE_GPU: return "gpu";
    case CLT_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
  }
}

clt_status clt_device_synchronize(clt_device *dev) {
  clt__api("clt_device_synchronize");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  return dev->be->sync(dev);
}

clt_status clt_device_memory_stats(const clt_device *dev, clt_memory_stats *out) {
  clt__api("clt_device_memory_stats");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  dev->be->memory_stats(dev, out);
  return CLT_OK;
}

clt_status clt_device_empty_cache(clt_device *dev) {
  clt__api("clt_device_empty_cache");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  dev->be->empty_cache(dev);
  return CLT_OK;
}

/* ---- listing and spec matching ---------------------------------------------------------- */

/* The OpenCL devices of this machine; the list is small, so it is read anew for every open. */
typedef struct {
  clt_device_info *info;
  size_t count;
} cl_devices;

static clt_status list_cl(cl_devices *out) {
  out->info = NULL;
  out->count = 0;
#ifdef CLT_HAVE_OPENCL
  size_t n = 0;
  clt_status st = clt__cl_list(NULL, 0, &n);
  if (st != CLT_OK || n == 0) return st;
  out->info = clt__calloc(n, sizeof *out->info);
  if (!out->info) return clt__err(CLT_ERR_OOM, "cannot allocate the device list");
  st = clt__cl_list(out->info, n, &out->count);
  if (st != CLT_OK) {
    clt__free_mem(out->info);
    out->info = NULL;
    out->count = 0;
    return st;
  }
  if (out->count > n) out->count = n;
#endif
  return CLT_OK;
}

static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  if (n == 0) return false;
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return true;
  }
  return false;
}

/* Index of the first device of type t, or -1. */
static long first_of_type(const cl_devices *ds, clt_device_type t) {
  for (size_t i = 0; i < ds->count; i++)
    if (ds->info[i].type == t) return (long)i;
  return -1;
}

static clt_status resolve_in(const char *spec, const cl_devices *ds, long *index, const char **why);

clt_status clt__spec_resolve(const char *spec, const clt_device_info *devs, size_t n, long *index, const char **why) {
  const cl_devices ds = {(clt_device_info *)devs, n};
  return resolve_in(spec, &ds, index, why);
}

/* Resolves a spec to "host" (-1) or an OpenCL index. why gets the reason for a default choice.
 * Returns CLT_ERR_NO_DEVICE when nothing matches. */
static clt_status resolve_in(const char *spec, const cl_devices *ds, long *index, const char **why) {
  *why = "named by the spec";
  if (!spec) {
    long i = first_of_type(ds, CLT_DEVICE_GPU);
    *why = "first OpenCL GPU";
    if (i < 0) {
      i = first_of_type(ds, CLT_DEVICE_ACCELERATOR);
      *why = "no GPU; first OpenCL accelerator";
    }
    if (i < 0) {
      i = first_of_type(ds, CLT_DEVICE_CPU);
      *why = "no GPU or accelerator; first OpenCL CPU device";
    }
    if (i < 0) *why = "no OpenCL device; the host";
    *index = i;
    return CLT_OK;
  }
  if (strcmp(spec, "host") == 0) {
    *index = -1;
    return CLT_OK;
  }
  if (strcmp(spec, "cl") == 0) {
    long i = first_of_type(ds, CLT_DEVICE_GPU);
    if (i < 0 && ds->count > 0) i = 0;
    *index = i;
    return i < 0 ? CLT_ERR_NO_DEVICE : CLT_OK;
  }
  if (strncmp(spec, "cl:", 3) == 0 && spec[3] != '\0') {
    const char *rest = spec + 3;
    bool digits = true;
    for (const char *p = rest; *p; p++) digits = digits && isdigit((unsigned char)*p);
    if (digits) {
      char *end = NULL;
      unsigned long long v = strtoull(rest, &end, 10);
      if (v >= ds->count) return CLT_ERR_NO_DEVICE;
      *index = (long)v;
      return CLT_OK;
    }
    for (size_t i = 0; i < ds->count; i++) {
      const clt_device_info *in = &ds->info[i];
      if (contains_nocase(in->platform, rest) || contains_nocase(in->platform_vendor, rest) ||
          contains_nocase(in->vendor, rest) || contains_nocase(in->name, rest)) {
        *index = (long)i;
        return CLT_OK;
      }
    }
  }
  return CLT_ERR_NO_DEVICE;
}

static void describe_devices(const cl_devices *ds) {
  clt__err_append("; devices: host");
  for (size_t i = 0; i < ds->count; i++)
    clt__err_append(", %s (%s: %s)", ds->info[i].spec, ds->info[i].platform, ds->info[i].name);
#ifndef CLT_HAVE_OPENCL
  clt__err_append(" (clt was built without OpenCL)");
#endif
}

/* The spec NULL means, and where it came from. */
static const char *effective_spec(const char *spec, bool *from_env) {
  *from_env = false;
  if (spec) return spec;
  const char *env = clt__getenv("CLT_DEVICE");
  if (env) *from_env = true;
  return env;
}

clt_status clt_device_open(const char *spec, clt_device **out) {
  clt__api("clt_device_open");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  bool from_env;
  const char *s = effective_spec(spec, &from_env);
  if (s && strcmp(s, "host") == 0) return clt__host_open(out); /* no OpenCL probing needed */
  cl_devices ds;
  clt_status st = list_cl(&ds);
  if (st != CLT_OK) return st;
  long index = -1;
  const char *why;
  st = resolve_in(s, &ds, &index, &why);
  if (st != CLT_OK) {
    clt__err(CLT_ERR_NO_DEVICE, "no device matches \"%s\"%s", s,
             from_env ? " (from $CLT_DEVICE)" : "");
    describe_devices(&ds);
    clt__free_mem(ds.info);
    return CLT_ERR_NO_DEVICE;
  }
  clt__free_mem(ds.info);
  if (index < 0) return clt__host_open(out);
#ifdef CLT_HAVE_OPENCL
  return clt__cl_open((size_t)index, out);
#else
  return clt__err(CLT_ERR_NO_DEVICE, "clt was built without OpenCL");
#endif
}

static void host_info(clt_device_info *in) {
  memset(in, 0, sizeof *in);
  clt_device *h = NULL;
  if (clt__host_open(&h) == CLT_OK) {
    *in = h->info;
    clt_device_release(h);
  }
}

clt_status clt_device_list(clt_device_info *out, size_t cap, size_t *count) {
  clt__api("clt_device_list");
  if (!count) return clt__err(CLT_ERR_INVALID_ARG, "argument count is NULL");
  if (cap > 0 && !out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL with cap %zu", cap);
  cl_devices ds;
  clt_status st = list_cl(&ds);
  if (st != CLT_OK) return st;
  *count = ds.count + 1;
  if (cap > 0) host_info(&out[0]);
  for (size_t i = 0; i < ds.count && i + 1 < cap; i++) out[i + 1] = ds.info[i];
  clt__free_mem(ds.info);
  return CLT_OK;
}

clt_status clt_device_default(char *spec, size_t spec_len, char *reason, size_t reason_len) {
  clt__api("clt_device_default");
  bool from_env;
  const char *s = effective_spec(NULL, &from_env);
  cl_devices ds;
  clt_status st = list_cl(&ds);
  if (st != CLT_OK) return st;
  long index = -1;
  const char *why;
  st = resolve_in(s, &ds, &index, &why);
  if (st != CLT_OK) {
    clt__err(CLT_ERR_NO_DEVICE, "no device matches \"%s\" (from $CLT_DEVICE)", s);
    describe_devices(&ds);
    clt__free_mem(ds.info);
    return CLT_ERR_NO_DEVICE;
  }
  if (spec && spec_len) snprintf(spec, spec_len, "%s", index < 0 ? "host" : ds.info[index].spec);
  if (reason && reason_len) {
    if (from_env)
      snprintf(reason, reason_len, "$CLT_DEVICE=%s", s);
    else
      snprintf(reason, reason_len, "%s", why);
  }
  clt__free_mem(ds.info);
  return CLT_OK;
}
