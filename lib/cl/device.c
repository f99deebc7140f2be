/* OpenCL device discovery, capability records, opening and wrapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "clt/clt_cl.h"
#include "../fusion.h"
#include "cl_internal.h"

typedef struct {
  cl_platform_id platform;
  cl_device_id device;
} cl_pair;

/* Held around every enumeration of platforms and devices, the reading of their records, and
 * the making of a device (context, queue, CLBlast's parameters). Drivers initialise on the first
 * of these calls, and PoCL 3.1 crashes (or lists no device) when two threads make them at once
 * in a fresh process (tests/test_cold_open.c: 50 of 50 processes failed with 4 threads). Opening
 * is rare, so every open takes it, not only the first: no once-flag to get wrong. The mutex is
 * statically initialised, so the lock has no first-use race of its own. */
static clt__mutex driver_lock = CLT__MUTEX_INIT;

/* The open devices, under open_lock (taken under driver_lock, never the other way: a failed
 * open drops its device under driver_lock). A process that returns from main with commands
 * still queued (no clt_device_release, no synchronize) let exit() run the libraries' destructors
 * while PoCL's threads still ran those commands: a host GEMM's callback then called into
 * oneDNN's freed JIT code and the process died with SIGSEGV after main returned. At exit, before
 * those destructors (core.h: clt__exit_drain_arm), every open device's queue is drained, in the
 * process that opened them only: a forked child has the list but not the driver's threads, and
 * its exit() waited for ever. Not on Windows, where a DLL's atexit functions run when it is
 * detached, after the process's other threads (the driver's too) are gone. */
static clt__mutex open_lock = CLT__MUTEX_INIT;
static clt__cl_dev *open_devices;
#ifndef _WIN32
static pid_t drain_pid; /* the process that armed the drain; 0 before the first open */
static void drain_at_exit(void) {
  if (getpid() != drain_pid) return;
  clt__mutex_lock(&open_lock);
  for (clt__cl_dev *d = open_devices; d; d = d->next_open)
    if (d->queue) clFinish(d->queue);
  clt__mutex_unlock(&open_lock);
}
#endif

/* Every (platform, device) pair in spec order. No platform at all gives count 0. */
static clt_status enumerate(cl_pair **out, size_t *count) {
  *out = NULL;
  *count = 0;
  cl_uint np = 0;
  cl_int err = CLT__CL(clGetPlatformIDs(0, NULL, &np));
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || (err == CL_SUCCESS && np == 0))
    return CLT_OK;
  if (err != CL_SUCCESS) return clt__cl_fail("clGetPlatformIDs", err, "listing OpenCL platforms");
  cl_platform_id *plats = clt__calloc(np, sizeof *plats);
  if (!plats) return clt__err(CLT_ERR_OOM, "cannot allocate the platform list");
  clt_status st = CLT_OK;
  err = CLT__CL(clGetPlatformIDs(np, plats, NULL));
  if (err != CL_SUCCESS) st = clt__cl_fail("clGetPlatformIDs", err, "listing %u platforms", np);
  cl_pair *pairs = NULL;
  size_t n = 0;
  for (cl_uint p = 0; p < np && st == CLT_OK; p++) {
    cl_uint nd = 0;
    err = CLT__CL(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd));
    if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && nd == 0)) continue;
    if (err != CL_SUCCESS) {
      st = clt__cl_fail("clGetDeviceIDs", err, "listing devices of platform %u", p);
      break;
    }
    cl_pair *grown = clt__realloc(pairs, (n + nd) * sizeof *pairs);
    cl_device_id *ids = clt__calloc(nd, sizeof *ids);
    if (grown) pairs = grown;
    if (!grown || !ids) {
      clt__free_mem(ids);
      st = clt__err(CLT_ERR_OOM, "cannot allocate the device list");
      break;
    }
    err = CLT__CL(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL));
    if (err != CL_SUCCESS) st = clt__cl_fail("clGetDeviceIDs", err, "listing devices of platform %u", p);
    for (cl_uint i = 0; i < nd && st == CLT_OK; i++) pairs[n++] = (cl_pair){plats[p], ids[i]};
    clt__free_mem(ids);
  }
  clt__free_mem(plats);
  if (st != CLT_OK) {
    clt__free_mem(pairs);
    return st;
  }
  *out = pairs;
  *count = n;
  return CLT_OK;
}

static clt_status info_str(cl_device_id d, cl_device_info what, const char *name, char *buf, size_t cap) {
  size_t got = 0;
  cl_int err = CLT__CL(clGetDeviceInfo(d, what, cap - 1, buf, &got));
  if (err == CL_INVALID_VALUE) { /* longer than the buffer: take the prefix */
    char *tmp = NULL;
    err = CLT__CL(clGetDeviceInfo(d, what, 0, NULL, &got));
    if (err == CL_SUCCESS && !(tmp = clt__malloc(got + 1))) return clt__err(CLT_ERR_OOM, "cannot allocate %zu bytes", got);
    if (err == CL_SUCCESS) err = CLT__CL(clGetDeviceInfo(d, what, got, tmp, NULL));
    if (err == CL_SUCCESS) snprintf(buf, cap, "%s", tmp);
    clt__free_mem(tmp);
  } else if (err == CL_SUCCESS) {
    buf[got < cap ? got : cap - 1] = '\0';
  }
  if (err != CL_SUCCESS) return clt__cl_fail("clGetDeviceInfo", err, "reading %s", name);
  return CLT_OK;
}

static clt_status info_val(cl_device_id d, cl_device_info what, const char *name, void *out, size_t size) {
  cl_int err = CLT__CL(clGetDeviceInfo(d, what, size, out, NULL));
  return err == CL_SUCCESS ? CLT_OK : clt__cl_fail("clGetDeviceInfo", err, "reading %s", name);
}

static clt_status platform_str(cl_platform_id p, cl_platform_info what, const char *name, char *buf, size_t cap) {
  size_t got = 0;
  cl_int err = CLT__CL(clGetPlatformInfo(p, what, cap - 1, buf, &got));
  if (err != CL_SUCCESS) return clt__cl_fail("clGetPlatformInfo", err, "reading %s", name);
  buf[got < cap ? got : cap - 1] = '\0';
  return CLT_OK;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
  size_t k = 0;
  while (s[k] == ' ') k++;
  if (k) memmove(s, s + k, n - k + 1);
}

/* Fills the capability record of one device and OpenCL's own details of it (x). */
static clt_status fill_info(cl_platform_id p, cl_device_id d, clt_device_info *in, clt_cl_details *x) {
  memset(in, 0, sizeof *in);
  memset(x, 0, sizeof *x);
  snprintf(in->backend, sizeof in->backend, "opencl");
  cl_device_type type = 0;
  cl_uint cu = 0;
  cl_ulong gmem = 0, maxalloc = 0;
  size_t maxwg = 0;
  cl_bool unified = CL_FALSE;
  cl_device_fp_config dfp = 0;
  char ext[4096];
  clt_status st;
  if ((st = platform_str(p, CL_PLATFORM_NAME, "CL_PLATFORM_NAME", x->platform, sizeof x->platform)) ||
      (st = platform_str(p, CL_PLATFORM_VENDOR, "CL_PLATFORM_VENDOR", x->platform_vendor, sizeof x->platform_vendor)) ||
      (st = platform_str(p, CL_PLATFORM_VERSION, "CL_PLATFORM_VERSION", x->platform_version, sizeof x->platform_version)) ||
      (st = info_str(d, CL_DEVICE_VENDOR, "CL_DEVICE_VENDOR", in->vendor, sizeof in->vendor)) ||
      (st = info_str(d, CL_DEVICE_NAME, "CL_DEVICE_NAME", in->name, sizeof in->name)) ||
      (st = info_str(d, CL_DRIVER_VERSION, "CL_DRIVER_VERSION", in->driver_version, sizeof in->driver_version)) ||
      (st = info_str(d, CL_DEVICE_OPENCL_C_VERSION, "CL_DEVICE_OPENCL_C_VERSION", x->opencl_c_version,
                     sizeof x->opencl_c_version)) ||
      (st = info_str(d, CL_DEVICE_VERSION, "CL_DEVICE_VERSION", x->device_version, sizeof x->device_version)) ||
      (st = info_str(d, CL_DEVICE_EXTENSIONS, "CL_DEVICE_EXTENSIONS", ext, sizeof ext)) ||
      (st = info_val(d, CL_DEVICE_TYPE, "CL_DEVICE_TYPE", &type, sizeof type)) ||
      (st = info_val(d, CL_DEVICE_MAX_COMPUTE_UNITS, "CL_DEVICE_MAX_COMPUTE_UNITS", &cu, sizeof cu)) ||
      (st = info_val(d, CL_DEVICE_GLOBAL_MEM_SIZE, "CL_DEVICE_GLOBAL_MEM_SIZE", &gmem, sizeof gmem)) ||
      (st = info_val(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, "CL_DEVICE_MAX_MEM_ALLOC_SIZE", &maxalloc, sizeof maxalloc)) ||
      (st = info_val(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, "CL_DEVICE_MAX_WORK_GROUP_SIZE", &maxwg, sizeof maxwg)) ||
      (st = info_val(d, CL_DEVICE_HOST_UNIFIED_MEMORY, "CL_DEVICE_HOST_UNIFIED_MEMORY", &unified, sizeof unified)) ||
      (st = info_val(d, CL_DEVICE_DOUBLE_FP_CONFIG, "CL_DEVICE_DOUBLE_FP_CONFIG", &dfp, sizeof dfp)))
    return st;
  trim(x->platform);
  trim(x->platform_vendor);
  trim(in->name);
  trim(in->vendor);
  snprintf(in->driver, sizeof in->driver, "%s", x->platform);
  snprintf(in->driver_vendor, sizeof in->driver_vendor, "%s", x->platform_vendor);
  snprintf(in->backend_version, sizeof in->backend_version, "%s", x->device_version);
  in->type = (type & CL_DEVICE_TYPE_GPU)           ? CLT_DEVICE_GPU
             : (type & CL_DEVICE_TYPE_CPU)         ? CLT_DEVICE_CPU
             : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLT_DEVICE_ACCELERATOR
                                                   : CLT_DEVICE_OTHER;
  in->compute_units = cu;
  in->global_mem_bytes = gmem;
  in->max_alloc_bytes = maxalloc;
  in->max_work_group_size = maxwg;
  in->host_unified_memory = unified == CL_TRUE && !clt__getenv("CLT_DISABLE_HOST_UNIFIED");
  in->fp64 = dfp != 0 && !clt__getenv("CLT_DISABLE_FP64");
  in->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
  x->int64_atomics = strstr(ext, "cl_khr_int64_base_atomics") != NULL;
  return CLT_OK;
}

static clt_status list_locked(clt_device_info *info, size_t cap, size_t *count) {
  cl_pair *pairs;
  size_t n;
  clt_status st = enumerate(&pairs, &n);
  if (st != CLT_OK) return st;
  for (size_t i = 0; i < n && i < cap && st == CLT_OK; i++) {
    clt_cl_details x;
    st = fill_info(pairs[i].platform, pairs[i].device, &info[i], &x);
    snprintf(info[i].spec, sizeof info[i].spec, "cl:%zu", i);
  }
  clt__free_mem(pairs);
  *count = n;
  return st;
}

static clt_status cl_list(clt_device_info *info, size_t cap, size_t *count) {
  if (!clt__cl_load()) { /* no ICD loader: no OpenCL device, and no error (clt_backend_get_status says why) */
    *count = 0;
    return CLT_OK;
  }
  clt__mutex_lock(&driver_lock);
  clt_status st = list_locked(info, cap, count);
  clt__mutex_unlock(&driver_lock);
  return st;
}

/* ---- open, wrap, destroy ---------------------------------------------------------------- */

/* The backend state with its locks (cl_internal.h); NULL (the error recorded) when out of memory. */
static clt__cl_dev *state_new(void) {
  clt__cl_dev *d = clt__calloc(1, sizeof *d);
  if (!d) {
    clt__err(CLT_ERR_OOM, "cannot allocate the device state");
    return NULL;
  }
  bool pool = clt__mutex_init(&d->pool_lock), kernels = pool && clt__mutex_init(&d->kernel_lock);
  bool enqueue = kernels && clt__mutex_init(&d->enqueue_lock), ptrs = enqueue && clt__mutex_init(&d->ptr_lock);
  atomic_init(&d->clblast_unusable, false);
  atomic_init(&d->queued, 0);
  atomic_init(&d->settled, 0);
  atomic_init(&d->app_queue, false);
  if (ptrs) return d;
  if (enqueue) clt__mutex_destroy(&d->enqueue_lock);
  if (kernels) clt__mutex_destroy(&d->kernel_lock);
  if (pool) clt__mutex_destroy(&d->pool_lock);
  clt__free_mem(d);
  clt__err(CLT_ERR_BACKEND, "cannot create the device's locks");
  return NULL;
}

static void state_free(clt__cl_dev *d) {
  clt__mutex_destroy(&d->pool_lock);
  clt__mutex_destroy(&d->kernel_lock);
  clt__mutex_destroy(&d->enqueue_lock);
  clt__mutex_destroy(&d->ptr_lock);
  clt__free_mem(d);
}

/* Derives build options and the binary-cache identity once the records are filled. */
static void finish_setup(clt__cl_dev *d, const clt_device_info *in) {
  const clt_cl_details *x = &d->details;
  int major = 1, minor = 0;
  if (sscanf(x->opencl_c_version, "OpenCL C %d.%d", &major, &minor) != 2) major = 1, minor = 0;
  snprintf(d->options, sizeof d->options, "%s-DCLT_FP64=%d",
           (major > 1 || minor >= 2) ? "-cl-std=CL1.2 " : "", in->fp64 ? 1 : 0);
  snprintf(d->cache_key, sizeof d->cache_key, "%s|%s|%s|%s|%s", x->platform, in->name,
           in->driver_version, x->device_version, d->options);
  d->max_local = in->max_work_group_size;
  d->is_cpu = in->type == CLT_DEVICE_CPU;
  d->host_memory = d->is_cpu || in->host_unified_memory;
  d->is_pocl = strstr(x->platform_vendor, "pocl") != NULL || strstr(x->platform, "Portable Computing Language") != NULL;
  d->int64_atomics = x->int64_atomics;
}

/* Creates the device handle around an already retained context/queue. On failure releases
 * what it was given. */
static clt_status make_device(clt__cl_dev *d, const char *spec, clt_device **out) {
  clt_device *dev = clt__device_new(&clt__cl_backend, d);
  if (!dev) {
    if (d->queue) {
      clReleaseCommandQueue(d->queue);
      CLT__LIVE_DEC(CLT__LIVE_QUEUES);
    }
    if (d->ctx) {
      clReleaseContext(d->ctx);
      CLT__LIVE_DEC(CLT__LIVE_CONTEXTS);
    }
    state_free(d);
    return clt__err(CLT_ERR_OOM, "cannot allocate the device handle");
  }
  size_t items[16] = {0};
  clt_status st = fill_info(d->platform, d->device, &dev->info, &d->details);
  if (st == CLT_OK)
    st = info_val(d->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, "CL_DEVICE_MAX_WORK_ITEM_SIZES", items, sizeof items);
  if (st == CLT_OK) {
    snprintf(dev->info.spec, sizeof dev->info.spec, "%s", spec);
    finish_setup(d, &dev->info);
    st = clt__cl_pick_variant(d);
    if (st == CLT_OK) st = clt__cl_gemm_tune(d, &dev->info);
    if (st == CLT_OK) st = clt__cl_host_route_open(d, &dev->info);
  }
  if (st != CLT_OK) {
    clt__device_drop(dev);
    return st;
  }
  memcpy(d->max_item, items, sizeof d->max_item);
  const char *nc = clt__getenv("CLT_NO_MEMORY_CACHING");
  d->no_caching = !nc || !*nc || strcmp(nc, "0") == 0 ? CLT__CACHING
                  : strcmp(nc, "hold") == 0              ? CLT__NO_CACHING_HOLD
                                                         : CLT__NO_CACHING_RELEASE;
  d->counted = true;
  clt__cl_gemm_device_opened();
  clt__mutex_lock(&open_lock);
  d->next_open = open_devices;
  open_devices = d;
#ifndef _WIN32
  if (!drain_pid) {
    drain_pid = getpid();
    clt__exit_drain_arm(drain_at_exit);
  }
#endif
  clt__mutex_unlock(&open_lock);
  *out = dev;
  return CLT_OK;
}

static clt_status open_locked(size_t index, clt_device **out) {
  cl_pair *pairs;
  size_t n;
  clt_status st = enumerate(&pairs, &n);
  if (st != CLT_OK) return st;
  if (index >= n) {
    clt__free_mem(pairs);
    return clt__err(CLT_ERR_NO_DEVICE, "OpenCL device %zu vanished", index);
  }
  cl_pair p = pairs[index];
  clt__free_mem(pairs);
  clt__cl_dev *d = state_new();
  if (!d) return clt_last_status();
  d->platform = p.platform;
  d->device = p.device;
  cl_int err;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)p.platform, 0};
  d->ctx = CLT__CL_OBJ(&err, clCreateContext(props, 1, &p.device, NULL, NULL, &err));
  if (!d->ctx) {
    state_free(d);
    return clt__cl_fail("clCreateContext", err, "device cl:%zu", index);
  }
  CLT__LIVE_INC(CLT__LIVE_CONTEXTS);
  d->queue = CLT__CL_OBJ(&err, clCreateCommandQueue(d->ctx, p.device, 0, &err));
  if (!d->queue) {
    clReleaseContext(d->ctx);
    CLT__LIVE_DEC(CLT__LIVE_CONTEXTS);
    state_free(d);
    return clt__cl_fail("clCreateCommandQueue", err, "device cl:%zu", index);
  }
  CLT__LIVE_INC(CLT__LIVE_QUEUES);
  char spec[32];
  snprintf(spec, sizeof spec, "cl:%zu", index);
  return make_device(d, spec, out);
}

/* What clt__cl_load failed with, as the error of the call that needed it. */
static clt_status not_loaded(void) {
  char note[1024];
  clt__cl_load_note(note, sizeof note);
  return clt__err(CLT_ERR_NO_DEVICE, "no OpenCL: %s", note);
}

static clt_status cl_open(size_t index, clt_device **out) {
  if (!clt__cl_load()) return not_loaded();
  clt__mutex_lock(&driver_lock);
  clt_status st = open_locked(index, out);
  clt__mutex_unlock(&driver_lock);
  return st;
}

static bool cl_runtime(char *note, size_t len) {
  clt__cl_load_note(note, len);
  return clt__cl_load();
}

const clt__backend_entry clt__backend_cl = {"cl", cl_list, cl_open, cl_runtime};

clt_status clt_cl_device_wrap(cl_context ctx, cl_device_id device, cl_command_queue queue,
                              clt_device **out) {
  clt__api("clt_cl_device_wrap");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  *out = NULL;
  if (!ctx || !device) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", ctx ? "device" : "ctx");
  if (!clt__cl_load()) return not_loaded();
  cl_platform_id plat;
  cl_int err = CLT__CL(clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL));
  if (err != CL_SUCCESS) return clt__cl_fail("clGetDeviceInfo", err, "reading CL_DEVICE_PLATFORM of the device");
  if (queue) {
    cl_context qctx;
    cl_device_id qdev;
    cl_command_queue_properties qp;
    if ((err = CLT__CL(clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL))) ||
        (err = CLT__CL(clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL))) ||
        (err = CLT__CL(clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL))))
      return clt__cl_fail("clGetCommandQueueInfo", err, "reading the queue");
    if (qctx != ctx || qdev != device)
      return clt__err(CLT_ERR_INVALID_ARG, "the queue belongs to another %s", qctx != ctx ? "context" : "device");
    if (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
      return clt__err(CLT_ERR_UNSUPPORTED, "the queue is out-of-order; clt needs an in-order queue");
  }
  clt__cl_dev *d = state_new();
  if (!d) return clt_last_status();
  d->platform = plat;
  d->device = device;
  if ((err = CLT__CL(clRetainContext(ctx))) != CL_SUCCESS) {
    state_free(d);
    return clt__cl_fail("clRetainContext", err, "adopting the context");
  }
  CLT__LIVE_INC(CLT__LIVE_CONTEXTS);
  d->ctx = ctx;
  if (queue) {
    err = CLT__CL(clRetainCommandQueue(queue));
    d->queue = err == CL_SUCCESS ? queue : NULL;
    atomic_store(&d->app_queue, true);
  } else {
    d->queue = CLT__CL_OBJ(&err, clCreateCommandQueue(ctx, device, 0, &err));
  }
  if (!d->queue) {
    clReleaseContext(ctx);
    CLT__LIVE_DEC(CLT__LIVE_CONTEXTS);
    state_free(d);
    return clt__cl_fail(queue ? "clRetainCommandQueue" : "clCreateCommandQueue", err, "adopting the queue");
  }
  CLT__LIVE_INC(CLT__LIVE_QUEUES);
  clt__mutex_lock(&driver_lock);
  clt_status st = make_device(d, "cl:app", out);
  clt__mutex_unlock(&driver_lock);
  return st;
}

clt_status clt_cl_device_get(const clt_device *dev, cl_context *ctx, cl_device_id *device,
                             cl_command_queue *queue) {
  clt__api("clt_cl_device_get");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (dev->be != &clt__cl_backend)
    return clt__err(CLT_ERR_DEVICE_MISMATCH, "device %s is not an OpenCL device", dev->info.spec);
  clt__cl_dev *d = clt__cl(dev);
  if (ctx) *ctx = d->ctx;
  if (device) *device = d->device;
  if (queue) atomic_store(&d->app_queue, true); /* its commands are not counted: gemm.c */
  if (queue) *queue = d->queue;
  return CLT_OK;
}

clt_status clt_cl_device_get_details(const clt_device *dev, clt_cl_details *out) {
  clt__api("clt_cl_device_get_details");
  if (!dev) return clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
  if (!out) return clt__err(CLT_ERR_INVALID_ARG, "argument out is NULL");
  if (dev->be != &clt__cl_backend)
    return clt__err(CLT_ERR_DEVICE_MISMATCH, "device %s is not an OpenCL device", dev->info.spec);
  *out = clt__cl(dev)->details;
  return CLT_OK;
}

const char *clt_cl_device_gemm_tuning(const clt_device *dev) {
  clt__api("clt_cl_device_gemm_tuning");
  if (!dev) {
    clt__err(CLT_ERR_INVALID_ARG, "argument dev is NULL");
    return NULL;
  }
  if (dev->be != &clt__cl_backend) {
    clt__err(CLT_ERR_DEVICE_MISMATCH, "device %s is not an OpenCL device", dev->info.spec);
    return NULL;
  }
  return clt__cl(dev)->gemm_tuning;
}

clt_status clt_cl_tensor_get_buffer(const clt_tensor *t, cl_mem *buf, size_t *byte_offset) {
  clt__api("clt_cl_tensor_get_buffer");
  if (!t) return clt__null_arg("t");
  if (t->st->dev->be != &clt__cl_backend)
    return clt__err(CLT_ERR_DEVICE_MISMATCH, "the tensor is on %s, not an OpenCL device", t->st->dev->info.spec);
  clt_status s = clt__fusion_settle(t->st, true); /* the caller may read and write the buffer */
  if (s != CLT_OK) return s;
  clt__range_forget(t->st);
  if (buf) *buf = clt__cl_mem(t->st);
  if (byte_offset) *byte_offset = (size_t)t->offset * clt_dtype_size(t->dtype);
  return CLT_OK;
}

void clt__cl_destroy(clt_device *dev) {
  clt__cl_dev *d = clt__cl(dev);
  clt__mutex_lock(&open_lock);
  for (clt__cl_dev **p = &open_devices; *p; p = &(*p)->next_open)
    if (*p == d) {
      *p = d->next_open;
      break;
    }
  clt__mutex_unlock(&open_lock);
  if (d->queue) clFinish(d->queue);
  clt__cl_programs_release(d);
  clt__cl_pool_empty(d);
  clt__cl_host_route_close(d);
  if (d->queue) {
    clReleaseCommandQueue(d->queue);
    CLT__LIVE_DEC(CLT__LIVE_QUEUES);
  }
  if (d->ctx) {
    clReleaseContext(d->ctx);
    CLT__LIVE_DEC(CLT__LIVE_CONTEXTS);
  }
  if (d->counted) clt__cl_gemm_device_closed();
  state_free(d);
}
