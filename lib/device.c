/* Device handles, the spec grammar of include/clt/device.h over the backend registry
 * (registry.c), and device listing. */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fusion.h"

static void (*_Atomic exit_drain)(void);
static atomic_int exit_arms;
/* Runs once, at the first arm's turn (the latest registered): the earlier arms' turns come after
 * later-loaded libraries' destructors (PoCL's LLVM among them), where the queues are idle anyway. */
static void run_exit_drain(void) {
  static atomic_bool ran;
  void (*fn)(void) = atomic_load(&exit_drain);
  if (fn && !atomic_exchange(&ran, true)) fn();
}
void clt__exit_drain_arm(void (*fn)(void)) {
  if (fn) atomic_store(&exit_drain, fn);
  if (atomic_fetch_add(&exit_arms, 1) < 16) atexit(run_exit_drain);
}

clt_device *clt__device_new(const clt__backend *be, void *impl) {
  clt_device *dev = clt__calloc(1, sizeof *dev);
  if (!dev) return NULL;
  atomic_init(&dev->refs, 1);
  atomic_init(&dev->storages, 0);
  dev->be = be;
  dev->impl = impl;
  CLT__LIVE_INC(CLT__LIVE_DEVICES);
  clt__leak_check_arm();
  return dev;
}

bool clt__is_host(const clt_device *dev) { return dev->info.type == CLT_DEVICE_HOST; }

bool clt__same_device(const clt_device *a, const clt_device *b) {
  return a == b || (clt__is_host(a) && clt__is_host(b));
}

clt_status clt__host_for(clt_device *dev, clt_device **host) {
  *host = NULL;
  if (dev && clt__is_host(dev)) {
    *host = clt_device_retain(dev);
    return CLT_OK;
  }
  return clt__reference_open(host);
}

clt_device *clt_device_retain(clt_device *dev) {
  if (dev) atomic_fetch_add(&dev->refs, 1);
  return dev;
}

void clt__device_drop(clt_device *dev) {
  if (!dev || atomic_fetch_sub(&dev->refs, 1) != 1) return;
  clt__fusion_forget_device(dev);
  dev->be->destroy(dev);
  clt__free_mem(dev);
  CLT__LIVE_DEC(CLT__LIVE_DEVICES);
}

void clt_device_release(clt_device *dev) {
  if (!dev) return;
  /* only storages holding it: this was the caller's last handle */
  if (atomic_load(&dev->refs) - 1 == atomic_load(&dev->storages) && atomic_load(&dev->storages) > 0)
    clt__leak_device_released(dev);
  clt__device_drop(dev);
}

clt_status clt_device_get_info(const clt_device *dev, clt_device_info *out) {
  clt__api("clt_device_get_info");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = dev->info;
  return CLT_OK;
}

const char *clt_device_spec(const clt_device *dev) { return dev ? dev->info.spec : ""; }

clt_device_type clt_device_type_of(const clt_device *dev) {
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
  clt_status s = clt__fusion_settle_device(dev); /* recorded chains are work queued in all but name */
  return s != CLT_OK ? s : dev->be->sync(dev);
}

clt_status clt_device_get_memory_stats(const clt_device *dev, clt_memory_stats *out) {
  clt__api("clt_device_get_memory_stats");
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

/* Devices of the backends in the registry, in its order: records, and each one's backend and
 * number there. The lists are small, so they are read anew for every open. */
typedef struct {
  clt_device_info *info;
  const clt__backend_entry **be;
  size_t *index;
  size_t count;
} devices;

static void devices_free(devices *ds) {
  clt__free_mem(ds->info);
  clt__free_mem(ds->be);
  clt__free_mem(ds->index);
  *ds = (devices){0};
}

/* Appends the devices of backend e. */
static clt_status list_backend(const clt__backend_entry *e, devices *ds) {
  size_t n = 0, got = 0;
  clt_status st = e->list(NULL, 0, &n);
  if (st != CLT_OK || n == 0) return st;
  size_t total = ds->count + n;
  clt_device_info *info = clt__realloc(ds->info, total * sizeof *info);
  if (info) ds->info = info;
  const clt__backend_entry **be = info ? clt__realloc(ds->be, total * sizeof *be) : NULL;
  if (be) ds->be = be;
  size_t *index = be ? clt__realloc(ds->index, total * sizeof *index) : NULL;
  if (index) ds->index = index;
  if (!index) return clt__err(CLT_ERR_OOM, "cannot allocate the device list");
  memset(ds->info + ds->count, 0, n * sizeof *info);
  if ((st = e->list(ds->info + ds->count, n, &got)) != CLT_OK) return st;
  if (got > n) got = n; /* a device appeared since the count */
  for (size_t i = 0; i < got; i++) {
    ds->be[ds->count + i] = e;
    ds->index[ds->count + i] = i;
  }
  ds->count += got;
  return CLT_OK;
}

/* The spec's backend prefix: the text before ':' (or all of it). */
static size_t prefix_len(const char *spec) { return strcspn(spec, ":"); }

/* The devices of the backends spec may name: the one its prefix names, or all for NULL (the
 * default picks among them) or for the error message. */
static clt_status list_devices(const char *spec, devices *ds) {
  *ds = (devices){0};
  clt_status st = CLT_OK;
  for (size_t i = 0; i < clt__backend_count() && st == CLT_OK; i++) {
    const clt__backend_entry *e = clt__backend_at(i);
    if (spec && (prefix_len(spec) != strlen(e->prefix) || strncmp(spec, e->prefix, strlen(e->prefix)) != 0)) continue;
    st = list_backend(e, ds);
  }
  if (st != CLT_OK) devices_free(ds);
  return st;
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

/* Index of the first device of type t among devs[from, to), or -1. */
static long first_of_type(const clt_device_info *devs, size_t from, size_t to, clt_device_type t) {
  for (size_t i = from; i < to; i++)
    if (devs[i].type == t) return (long)i;
  return -1;
}

clt_status clt__spec_resolve(const char *spec, const clt_device_info *devs, size_t n, size_t *index, const char **why) {
  *why = "named by the spec";
  long i = -1;
  if (!spec) { /* a device of a backend other than the host's, by kind; else the host */
    static const struct {
      clt_device_type type;
      const char *why;
    } order[] = {{CLT_DEVICE_GPU, "first GPU"},
                 {CLT_DEVICE_ACCELERATOR, "no GPU; first accelerator"},
                 {CLT_DEVICE_CPU, "no GPU or accelerator; first CPU device"},
                 {CLT_DEVICE_HOST, "no other device; the host"}};
    for (size_t k = 0; k < sizeof order / sizeof *order && i < 0; k++) {
      i = first_of_type(devs, 0, n, order[k].type);
      *why = order[k].why;
    }
  } else {
    /* the devices of the backend the prefix names: a run of the list, specs "<prefix>[:N]" */
    size_t p = prefix_len(spec), from = 0, to;
    while (from < n && (prefix_len(devs[from].spec) != p || strncmp(devs[from].spec, spec, p) != 0)) from++;
    for (to = from; to < n && prefix_len(devs[to].spec) == p && strncmp(devs[to].spec, spec, p) == 0;) to++;
    const char *rest = spec[p] == ':' ? spec + p + 1 : NULL;
    bool digits = rest && *rest;
    for (const char *c = rest; digits && *c; c++) digits = isdigit((unsigned char)*c);
    if (from == to) {
      i = -1;
    } else if (!rest) { /* "cl": the backend's first GPU, else its first device */
      i = first_of_type(devs, from, to, CLT_DEVICE_GPU);
      if (i < 0) i = (long)from;
    } else if (digits) { /* "cl:N" */
      unsigned long long v = strtoull(rest, NULL, 10);
      i = v < to - from ? (long)(from + v) : -1;
    } else if (*rest) { /* "cl:TEXT" */
      for (size_t k = from; k < to && i < 0; k++) {
        const clt_device_info *in = &devs[k];
        if (contains_nocase(in->driver, rest) || contains_nocase(in->driver_vendor, rest) ||
            contains_nocase(in->vendor, rest) || contains_nocase(in->name, rest))
          i = (long)k;
      }
    }
  }
  if (i < 0) return CLT_ERR_NO_DEVICE;
  *index = (size_t)i;
  return CLT_OK;
}

static void describe_devices(void) {
  devices ds;
  clt_status st = clt_last_status();
  char *msg = clt__strdup(clt_last_error());
  if (!msg || list_devices(NULL, &ds) != CLT_OK) { /* the listing's own failure is not the caller's */
    if (msg) clt__err_restore(st, msg);
    clt__free_mem(msg);
    return;
  }
  clt__err_restore(st, msg);
  clt__free_mem(msg);
  clt__err_append("; devices:");
  for (size_t i = 0; i < ds.count; i++) {
    const clt_device_info *in = &ds.info[i];
    clt__err_append("%s %s", i ? "," : "", in->spec);
    if (*in->driver) clt__err_append(" (%s: %s)", in->driver, in->name);
  }
  clt__err_append(" (backends of this build:");
  for (size_t i = 0; i < clt__backend_count(); i++) {
    const clt__backend_entry *e = clt__backend_at(i);
    char note[1024];
    clt__err_append(" %s", e->prefix);
    if (e->runtime && !e->runtime(note, sizeof note)) clt__err_append(" [%s]", note);
  }
  clt__err_append(")");
  devices_free(&ds);
}

/* The spec NULL means, and where it came from. */
static const char *effective_spec(const char *spec, bool *from_env) {
  *from_env = false;
  if (spec) return spec;
  const char *env = clt__getenv("CLT_DEVICE");
  if (env) *from_env = true;
  return env;
}

/* Resolves s (NULL: the default) over the devices it may name: *ds holds them on success. */
static clt_status resolve(const char *s, bool from_env, devices *ds, size_t *index, const char **why) {
  clt_status st = list_devices(s, ds);
  if (st != CLT_OK) return st;
  if (clt__spec_resolve(s, ds->info, ds->count, index, why) == CLT_OK) return CLT_OK;
  devices_free(ds);
  clt__err(CLT_ERR_NO_DEVICE, "no device matches \"%s\"%s", s ? s : "(none)", from_env ? " (from $CLT_DEVICE)" : "");
  describe_devices();
  return CLT_ERR_NO_DEVICE;
}

clt_status clt_device_open(const char *spec, clt_device **out) {
  clt__api("clt_device_open");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  bool from_env;
  const char *s = effective_spec(spec, &from_env);
  devices ds;
  size_t index;
  const char *why;
  clt_status st = resolve(s, from_env, &ds, &index, &why);
  if (st != CLT_OK) return st;
  const clt__backend_entry *e = ds.be[index];
  size_t k = ds.index[index];
  devices_free(&ds);
  return e->open(k, out);
}

clt_status clt_device_list(clt_device_info *out, size_t cap, size_t *count) {
  clt__api("clt_device_list");
  if (!count) return clt__err(CLT_ERR_INVALID_ARG, "argument count is NULL");
  if (cap > 0 && !out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL with cap %zu", cap);
  devices ds;
  clt_status st = list_devices(NULL, &ds);
  if (st != CLT_OK) return st;
  *count = ds.count;
  for (size_t i = 0; i < ds.count && i < cap; i++) out[i] = ds.info[i];
  devices_free(&ds);
  return CLT_OK;
}

clt_status clt_device_default(char *spec, size_t spec_len, char *reason, size_t reason_len) {
  clt__api("clt_device_default");
  bool from_env;
  const char *s = effective_spec(NULL, &from_env);
  devices ds;
  size_t index;
  const char *why;
  clt_status st = resolve(s, from_env, &ds, &index, &why);
  if (st != CLT_OK) return st;
  if (spec && spec_len) snprintf(spec, spec_len, "%s", ds.info[index].spec);
  if (reason && reason_len) {
    if (from_env)
      snprintf(reason, reason_len, "$CLT_DEVICE=%s", s);
    else
      snprintf(reason, reason_len, "%s", why);
  }
  devices_free(&ds);
  return CLT_OK;
}

const char *clt_backend_name(size_t i) {
  const clt__backend_entry *e = clt__backend_at(i);
  return e ? e->prefix : NULL;
}

clt_status clt_backend_get_status(const char *backend, char *note, size_t note_len) {
  clt__api("clt_backend_get_status");
  if (!backend) return clt__err(CLT_ERR_INVALID_ARG, "argument backend is NULL");
  if (!note && note_len) return clt__err(CLT_ERR_INVALID_ARG, "argument note is NULL with note_len %zu", note_len);
  const clt__backend_entry *e = NULL;
  for (size_t i = 0; i < clt__backend_count() && !e; i++)
    if (strcmp(clt__backend_at(i)->prefix, backend) == 0) e = clt__backend_at(i);
  if (!e) {
    clt__err(CLT_ERR_INVALID_ARG, "\"%s\" is no backend of this build; its backends:", backend);
    for (size_t i = 0; i < clt__backend_count(); i++) clt__err_append(" %s", clt__backend_at(i)->prefix);
    return CLT_ERR_INVALID_ARG;
  }
  char buf[1024] = "built in";
  bool ok = !e->runtime || e->runtime(buf, sizeof buf);
  if (note_len) snprintf(note, note_len, "%s", buf);
  return ok ? CLT_OK : clt__err(CLT_ERR_UNSUPPORTED, "backend %s: %s", backend, buf);
}
