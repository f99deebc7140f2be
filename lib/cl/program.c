/* Kernel programs: embedded sources (or $CLT_KERNEL_DIR), built lazily one family at a time,
 * with an optional on-disk cache of program binaries; kernels looked up by name. */
#include <stdio.h>
#include <string.h>

#include "../ew.h"
#include "../fileio.h"
#include "cl_internal.h"

/* A cache entry: this magic, the key's length, the binary's length and a checksum over key and
 * binary (three little-endian 64-bit numbers), the key, the binary. */
#define BIN_MAGIC "CLTBIN02"
#define BIN_HEAD 32

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* ---- sources ---------------------------------------------------------------------------- */

#define NSRC (CLT__KPRELUDE_COUNT + 1) /* the prelude files, then the family */

typedef struct {
  const char *text[NSRC];
  size_t len[NSRC];
  void *owned[NSRC]; /* read from $CLT_KERNEL_DIR */
} sources;

static void sources_free(sources *s) {
  for (int i = 0; i < NSRC; i++) clt__free_mem(s->owned[i]);
}

static const clt__kernel_source *embedded(int fam, int i) {
  return i < CLT__KPRELUDE_COUNT ? &clt__kernel_prelude[i] : &clt__kernel_families[fam];
}

static clt_status load_sources(int fam, sources *s) {
  memset(s, 0, sizeof *s);
  const char *dir = clt__getenv("CLT_KERNEL_DIR");
  if (dir && !clt__path_is_absolute(dir))
    return clt__err(CLT_ERR_INVALID_ARG, "$CLT_KERNEL_DIR '%s' is not an absolute path", dir);
  for (int i = 0; i < NSRC; i++) {
    const clt__kernel_source *e = embedded(fam, i);
    if (!dir) {
      s->text[i] = e->source;
      s->len[i] = e->length;
      continue;
    }
    size_t n = strlen(dir) + strlen(e->name) + 2;
    char *path = clt__malloc(n);
    if (!path) {
      sources_free(s);
      return clt__err(CLT_ERR_OOM, "cannot allocate a path");
    }
    snprintf(path, n, "%s/%s", dir, e->name);
    size_t len;
    clt_status st = clt__file_read_all(path, 64u << 20, &s->owned[i], &len);
    clt__free_mem(path);
    if (st != CLT_OK) {
      sources_free(s);
      return st;
    }
    s->text[i] = s->owned[i];
    s->len[i] = len;
    const char *nul = memchr(s->text[i], '\0', len);
    if (nul) {
      sources_free(s);
      return clt__err(CLT_ERR_FORMAT, "$CLT_KERNEL_DIR: '%s/%s' holds a NUL byte at offset %zu (a kernel source is text)",
                      dir, e->name, (size_t)(nul - s->text[i]));
    }
  }
  char why[1024];
  if (dir && !clt__dir_is_private(dir, why, sizeof why)) {
    sources_free(s);
    return clt__err(CLT_ERR_INVALID_ARG, "$CLT_KERNEL_DIR: %s; kernels from a directory another user can change are "
                    "refused", why);
  }
  return CLT_OK;
}

/* ---- the binary cache ------------------------------------------------------------------- */

/* Whether to keep program binaries on disk: $CLT_BINARY_CACHE=1 or 0 decides; by default on,
 * except that on PoCL an entry is written the second time a family is built from source (a
 * marker beside the entry remembers the first). Asking PoCL for a program's binary compiles
 * every kernel in it (docs/PERFORMANCE.md: a cold start with three small families doubled), so
 * a process that runs once should not pay it; but a warm source build costs PoCL 20-80 ms per
 * family (it preprocesses the source to find its own cache entry), a binary 1-30 ms, and a
 * digits training step builds ten families: a program run again starts several times faster
 * from binaries. Other drivers hand out the binary their build produced anyway. */
typedef enum { CACHE_OFF, CACHE_ON, CACHE_SECOND_BUILD } cache_mode;

static cache_mode cache_mode_of(const clt__cl_dev *d) {
  const char *on = clt__getenv("CLT_BINARY_CACHE");
  if (on) return strcmp(on, "0") != 0 ? CACHE_ON : CACHE_OFF;
  return d->is_pocl ? CACHE_SECOND_BUILD : CACHE_ON;
}

/* The cache directory (clt_set_cache_dir's, else $CLT_CACHE_DIR, else the platform's per-user
 * cache folder: clt__cache_dir). Made when missing (mode 0700), and used only when private to
 * this user (clt__dir_is_private): whoever can write there could put their code in front of
 * every kernel clt runs. Otherwise there is no binary cache, which costs only time. */
static bool cache_dir(char *buf, size_t cap) {
  char why[1024];
  return clt__cache_dir(buf, cap) && clt__mkdir_p(buf) && clt__dir_is_private(buf, why, sizeof why);
}

static bool cache_path(const clt__cl_dev *d, int fam, const sources *s, const char *options, char *buf,
                       size_t cap) {
  char dir[1024];
  if (cache_mode_of(d) == CACHE_OFF || !cache_dir(dir, sizeof dir)) return false;
  uint64_t h = 0xcbf29ce484222325ULL;
  const int version[3] = {CLT_VERSION_MAJOR, CLT_VERSION_MINOR, CLT_VERSION_PATCH};
  h = fnv1a(h, version, sizeof version);
  for (int i = 0; i < NSRC; i++) h = fnv1a(h, s->text[i], s->len[i]);
  h = fnv1a(h, d->cache_key, strlen(d->cache_key));
  h = fnv1a(h, options, strlen(options));
  int n = snprintf(buf, cap, "%s/%s-%016llx.bin", dir, clt__kernel_families[fam].name, (unsigned long long)h);
  return n > 0 && (size_t)n < cap;
}

/* What an entry must hold to be used: the clt version, its own name (the family and the hash of
 * the sources, device identity, options and version), the device, driver and platform, and the
 * build options. An entry put under another entry's name (another family's, or one built from
 * other sources) differs, so it is a miss and is rebuilt, never run. */
static size_t entry_key(const clt__cl_dev *d, const char *path, const char *options, char *buf, size_t cap) {
  const char *name = strrchr(path, '/');
  int n = snprintf(buf, cap, "clt %d.%d.%d\nentry %s\ndevice %s\noptions %s\n", CLT_VERSION_MAJOR, CLT_VERSION_MINOR,
                   CLT_VERSION_PATCH, name ? name + 1 : path, d->cache_key, options);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

#define KEY_MAX (sizeof ((clt__cl_dev *)0)->cache_key + 1200)

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static cl_program from_cache(clt__cl_dev *d, const char *path, const char *options) {
  void *file;
  size_t len;
  clt_status saved = clt_last_status();
  char saved_msg[1024];
  snprintf(saved_msg, sizeof saved_msg, "%s", clt_last_error());
  if (clt__file_read_all(path, 256u << 20, &file, &len) != CLT_OK) {
    /* a missing entry is the normal cold case, not an error to report */
    clt__err_restore(saved, saved_msg);
    return NULL;
  }
  cl_program prog = NULL;
  const unsigned char *b = file;
  char key[KEY_MAX];
  size_t kl = entry_key(d, path, options, key, sizeof key);
  uint64_t klen = 0, size = 0, sum = 0;
  if (len >= BIN_HEAD && memcmp(b, BIN_MAGIC, 8) == 0) {
    klen = get_u64(b + 8);
    size = get_u64(b + 16);
    sum = get_u64(b + 24);
  }
  bool ok = kl > 0 && klen == kl && size > 0 && size <= len - BIN_HEAD && klen == len - BIN_HEAD - size &&
            sum == fnv1a(0xcbf29ce484222325ULL, b + BIN_HEAD, len - BIN_HEAD) && memcmp(b + BIN_HEAD, key, kl) == 0;
  if (ok) {
    const unsigned char *bin = b + BIN_HEAD + klen;
    size_t blen = (size_t)size;
    cl_int err, bstat;
    prog = CLT__CL_OBJ(&err, clCreateProgramWithBinary(d->ctx, 1, &d->device, &blen, &bin, &bstat, &err));
    if (prog && CLT__CL(clBuildProgram(prog, 1, &d->device, options, NULL, NULL)) != CL_SUCCESS) {
      clReleaseProgram(prog);
      prog = NULL;
    }
  }
  clt__free_mem(file);
  if (!prog) clt__remove(path); /* corrupt, stale or not this entry: rebuilt from source and written again */
  clt__err_restore(saved, saved_msg);
  return prog;
}

static void to_cache(clt__cl_dev *d, cl_program prog, const char *path, const char *options) {
  size_t size = 0;
  if (CLT__CL(clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL)) != CL_SUCCESS ||
      size == 0)
    return;
  unsigned char *bin = clt__malloc(size);
  if (!bin) return;
  char key[KEY_MAX];
  size_t kl = entry_key(d, path, options, key, sizeof key);
  if (kl > 0 && CLT__CL(clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL)) == CL_SUCCESS) {
    unsigned char head[BIN_HEAD];
    memcpy(head, BIN_MAGIC, 8);
    put_u64(head + 8, kl);
    put_u64(head + 16, size);
    put_u64(head + 24, fnv1a(fnv1a(0xcbf29ce484222325ULL, key, kl), bin, size));
    const void *parts[3] = {head, key, bin};
    const size_t lens[3] = {BIN_HEAD, kl, size};
    clt_status saved = clt_last_status();
    char saved_msg[1024];
    snprintf(saved_msg, sizeof saved_msg, "%s", clt_last_error());
    /* a cache that cannot be written only costs time; the error is not the caller's */
    if (clt__file_write_atomic(path, parts, lens, 3) != CLT_OK) clt__err_restore(saved, saved_msg);
  }
  clt__free_mem(bin);
}

/* Whether the family at path was built from source before (CACHE_SECOND_BUILD): true when its
 * marker, path with ".once" added, exists (then removed: the entry replaces it); else the marker
 * is made and false returned. The marker's content is never read. Like the entries, a marker
 * that cannot be made only costs time. */
static bool second_build(const char *path) {
  char marker[1210];
  int n = snprintf(marker, sizeof marker, "%s.once", path);
  if (n < 0 || (size_t)n >= sizeof marker) return false;
  FILE *f = fopen(marker, "rb");
  if (f) {
    fclose(f);
    remove(marker);
    return true;
  }
  clt_status saved = clt_last_status();
  char saved_msg[1024];
  snprintf(saved_msg, sizeof saved_msg, "%s", clt_last_error());
  static const char text[] = "clt: this family was built from source once; the next build writes its binary\n";
  const void *parts[1] = {text};
  const size_t lens[1] = {sizeof text - 1};
  if (clt__file_write_atomic(marker, parts, lens, 1) != CLT_OK) clt__err_restore(saved, saved_msg);
  return false;
}

/* ---- the kernel variant ----------------------------------------------------------------- */

/* CPU-shaped kernels (one element or one chunk per work-item, which PoCL vectorises across
 * work-items) on CPU devices, where they are measured (docs/PERFORMANCE.md); GPU-shaped ones
 * (work-group tree reductions in local memory, tiled transposes) everywhere else. Chosen per
 * device, never per tensor size: each variant is one set of programs, built once. */
clt_status clt__cl_pick_variant(clt__cl_dev *d) {
  const char *env = clt__getenv("CLT_KERNEL_VARIANT");
  if (!env || !*env) d->gpu_kernels = !d->is_cpu;
  else if (strcmp(env, "gpu") == 0) d->gpu_kernels = true;
  else if (strcmp(env, "cpu") == 0) d->gpu_kernels = false;
  else return clt__err(CLT_ERR_INVALID_ARG, "$CLT_KERNEL_VARIANT is '%s': it takes gpu or cpu", env);
  size_t used = strlen(d->options);
  int n = snprintf(d->options + used, sizeof d->options - used, " -DCLT_GPU=%d", d->gpu_kernels ? 1 : 0);
  if (n < 0 || (size_t)n >= sizeof d->options - used)
    return clt__err(CLT_ERR_BACKEND, "the kernel build options of %s are too long", d->cache_key);
  return CLT_OK;
}

/* ---- building --------------------------------------------------------------------------- */

static clt_status build_log_error(clt__cl_dev *d, cl_program prog, int fam, const char *options, cl_int err) {
  const char *name = clt__kernel_families[fam].name;
  clt_status st;
  if (err == CL_BUILD_PROGRAM_FAILURE)
    st = clt__err(CLT_ERR_KERNEL_BUILD, "clBuildProgram failed with CL_BUILD_PROGRAM_FAILURE (%d): "
                  "kernel family '%s' with options \"%s\"", (int)err, name, options);
  else
    st = clt__cl_fail("clBuildProgram", err, "kernel family '%s' with options \"%s\"", name, options);
  size_t n = 0;
  if (CLT__CL(clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n)) == CL_SUCCESS && n > 1) {
    char *log = clt__malloc(n + 1);
    if (log && CLT__CL(clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, n, log, NULL)) == CL_SUCCESS) {
      log[n] = '\0';
      clt__err_append("\nbuild log:\n%s", log);
    }
    clt__free_mem(log);
  }
  return st;
}

static clt_status build(clt__cl_dev *d, int fam, int variant) {
  sources s;
  clt_status st = load_sources(fam, &s);
  if (st != CLT_OK) return st;
  char options[sizeof d->options + 32];
  if (variant == CLT__VARIANT_NONE)
    snprintf(options, sizeof options, "%s", d->options);
  else
    snprintf(options, sizeof options, "%s -DCLT_DT=%d", d->options, variant);
  char path[1200];
  bool cached = cache_path(d, fam, &s, options, path, sizeof path);
  /* the cache's own faults cost time only: a test tells them by this label */
  const char *region = clt__fault_region("binary cache");
  cl_program prog = cached ? from_cache(d, path, options) : NULL;
  clt__fault_region(region);
  if (!prog) {
    cl_int err;
    prog = CLT__CL_OBJ(&err, clCreateProgramWithSource(d->ctx, NSRC, s.text, s.len, &err));
    if (!prog) {
      sources_free(&s);
      return clt__cl_fail("clCreateProgramWithSource", err, "kernel family '%s'", clt__kernel_families[fam].name);
    }
    err = CLT__CL(clBuildProgram(prog, 1, &d->device, options, NULL, NULL));
    if (err != CL_SUCCESS) {
      st = build_log_error(d, prog, fam, options, err);
      clReleaseProgram(prog);
      sources_free(&s);
      return st;
    }
    if (cached) {
      region = clt__fault_region("binary cache");
      if (cache_mode_of(d) == CACHE_ON || second_build(path)) to_cache(d, prog, path, options);
      clt__fault_region(region);
    }
  }
  sources_free(&s);
  d->programs[fam][variant] = prog;
  CLT__LIVE_INC(CLT__LIVE_PROGRAMS);
  return CLT_OK;
}

/* ---- kernels by name -------------------------------------------------------------------- */

static size_t name_hash(const char *s, int variant) {
  return (size_t)fnv1a(0xcbf29ce484222325ULL + (uint64_t)variant, s, strlen(s));
}

static clt_status table_grow(clt__cl_dev *d) {
  size_t cap = d->kernel_cap ? 2 * d->kernel_cap : 64;
  clt__cl_kernel_entry **t = clt__calloc(cap, sizeof *t);
  if (!t) return clt__err(CLT_ERR_OOM, "cannot grow the kernel table");
  for (size_t i = 0; i < d->kernel_cap; i++) {
    if (!d->kernels[i]) continue;
    size_t j = name_hash(d->kernels[i]->name, d->kernels[i]->variant) & (cap - 1);
    while (t[j]) j = (j + 1) & (cap - 1);
    t[j] = d->kernels[i];
  }
  clt__free_mem(d->kernels);
  d->kernels = t;
  d->kernel_cap = cap;
  return CLT_OK;
}

/* The largest power of two <= want that the kernel and the device allow. */
static size_t fit_local(const clt__cl_dev *d, size_t kwg, size_t want) {
  if (kwg > 0 && want > kwg) want = kwg;
  if (d->max_local > 0 && want > d->max_local) want = d->max_local;
  size_t p = 1;
  while (p * 2 <= want) p *= 2;
  return p;
}

/* Work-group sizes for k: 1-D launches a fixed power of two (256, or less where the kernel or
 * device allows less), so that PoCL compiles each kernel once. Strided walks the same with the
 * GPU-shaped kernels; with the CPU-shaped ones (a CPU device runs a work-group as loops on one
 * thread) 4096, since fewer, larger groups cost less there (PoCL: a broadcast add over rows of 100 floats at 19-21 GB/s, n = 1e7,
 * in groups of 256, 28-30 in groups of 4096). */
static clt_status pick_local(clt__cl_dev *d, cl_kernel k, const char *name, size_t *local, size_t *walk) {
  size_t kwg = 0;
  cl_int err = CLT__CL(clGetKernelWorkGroupInfo(k, d->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL));
  if (err != CL_SUCCESS)
    return clt__cl_fail("clGetKernelWorkGroupInfo", err, "reading CL_KERNEL_WORK_GROUP_SIZE of '%s'", name);
  *local = fit_local(d, kwg, CLT__WG_MAX);
  *walk = fit_local(d, kwg, d->gpu_kernels ? 256 : 4096);
  return CLT_OK;
}

/* ---- generated programs (ew.c: fused chains) --------------------------------------------- */

clt_status clt__cl_build_generated(clt__cl_dev *d, cl_uint n, const char **text, const size_t *len, int variant,
                                   const char *what, cl_program *out) {
  char options[sizeof d->options + 32];
  snprintf(options, sizeof options, "%s -DCLT_DT=%d", d->options, variant);
  cl_int err;
  cl_program prog = CLT__CL_OBJ(&err, clCreateProgramWithSource(d->ctx, n, text, len, &err));
  if (!prog) return clt__cl_fail("clCreateProgramWithSource", err, "%s", what);
  err = CLT__CL(clBuildProgram(prog, 1, &d->device, options, NULL, NULL));
  if (err != CL_SUCCESS) {
    clt_status st = err == CL_BUILD_PROGRAM_FAILURE
                        ? clt__err(CLT_ERR_KERNEL_BUILD, "clBuildProgram failed with CL_BUILD_PROGRAM_FAILURE (%d): %s "
                                   "with options \"%s\"", (int)err, what, options)
                        : clt__cl_fail("clBuildProgram", err, "%s with options \"%s\"", what, options);
    clReleaseProgram(prog);
    return st;
  }
  CLT__LIVE_INC(CLT__LIVE_PROGRAMS);
  *out = prog;
  return CLT_OK;
}

clt_status clt__cl_entry_new(clt__cl_dev *d, cl_program prog, const char *name, int variant,
                             clt__cl_kernel_entry **out) {
  cl_int err;
  cl_kernel k = CLT__CL_OBJ(&err, clCreateKernel(prog, name, &err));
  if (!k) return clt__cl_fail("clCreateKernel", err, "generated kernel '%s'", name);
  size_t local = 1, walk = 1;
  clt_status st = pick_local(d, k, name, &local, &walk);
  char *copy = st == CLT_OK ? clt__strdup(name) : NULL;
  clt__cl_kernel_entry *e = copy ? clt__malloc(sizeof *e) : NULL;
  if (!e) {
    clt__free_mem(copy);
    clReleaseKernel(k);
    return st != CLT_OK ? st : clt__err(CLT_ERR_OOM, "cannot allocate a kernel entry");
  }
  *e = (clt__cl_kernel_entry){copy, variant, k, local, walk};
  CLT__LIVE_INC(CLT__LIVE_KERNELS);
  *out = e;
  return CLT_OK;
}

void clt__cl_entry_free(clt__cl_kernel_entry *e) {
  if (!e) return;
  clReleaseKernel(e->kernel);
  clt__free_mem((void *)e->name);
  clt__free_mem(e);
  CLT__LIVE_DEC(CLT__LIVE_KERNELS);
}

/* clt__cl_kernel with the kernel lock held. */
static clt_status kernel_locked(clt__cl_dev *d, int fam, int variant, const char *name, clt__cl_kernel_entry **out) {
  if (d->kernel_cap) {
    size_t j = name_hash(name, variant) & (d->kernel_cap - 1);
    for (; d->kernels[j]; j = (j + 1) & (d->kernel_cap - 1))
      if (d->kernels[j]->variant == variant && strcmp(d->kernels[j]->name, name) == 0) {
        *out = d->kernels[j];
        return CLT_OK;
      }
  }
  clt_status st;
  if (!d->programs[fam][variant] && (st = build(d, fam, variant)) != CLT_OK) return st;
  if ((d->nkernels + 1) * 2 > d->kernel_cap && (st = table_grow(d)) != CLT_OK) return st;
  cl_int err;
  cl_kernel k = CLT__CL_OBJ(&err, clCreateKernel(d->programs[fam][variant], name, &err));
  if (!k)
    return clt__cl_fail("clCreateKernel", err, "kernel '%s' of family '%s'%s%s", name, clt__kernel_families[fam].name,
                        variant == CLT__VARIANT_NONE ? "" : " for ",
                        variant == CLT__VARIANT_NONE ? "" : clt_dtype_name((clt_dtype)variant));
  size_t local = 1, walk = 1;
  if ((st = pick_local(d, k, name, &local, &walk)) != CLT_OK) {
    clReleaseKernel(k);
    return st;
  }
  char *copy = clt__strdup(name);
  clt__cl_kernel_entry *e = copy ? clt__malloc(sizeof *e) : NULL;
  if (!e) {
    clt__free_mem(copy);
    clReleaseKernel(k);
    return clt__err(CLT_ERR_OOM, "cannot allocate a kernel entry");
  }
  *e = (clt__cl_kernel_entry){copy, variant, k, local, walk};
  size_t j = name_hash(name, variant) & (d->kernel_cap - 1);
  while (d->kernels[j]) j = (j + 1) & (d->kernel_cap - 1);
  d->kernels[j] = e;
  d->nkernels++;
  CLT__LIVE_INC(CLT__LIVE_KERNELS);
  *out = e;
  return CLT_OK;
}

clt_status clt__cl_kernel(clt__cl_dev *d, int fam, int variant, const char *name, clt__cl_kernel_entry **out) {
  clt__mutex_lock(&d->kernel_lock);
  clt_status st = kernel_locked(d, fam, variant, name, out);
  clt__mutex_unlock(&d->kernel_lock);
  return st;
}

void clt__cl_programs_release(clt__cl_dev *d) {
  clt__cl_fused_release(d);
  for (size_t i = 0; i < d->kernel_cap; i++) {
    clt__cl_kernel_entry *e = d->kernels[i];
    if (!e) continue;
    clReleaseKernel(e->kernel);
    clt__free_mem((void *)e->name);
    clt__free_mem(e);
    CLT__LIVE_DEC(CLT__LIVE_KERNELS);
  }
  clt__free_mem(d->kernels);
  d->kernels = NULL;
  d->kernel_cap = d->nkernels = 0;
  for (int f = 0; f < CLT__KFAM_COUNT; f++)
    for (int v = 0; v < CLT__NVARIANTS; v++) {
      if (!d->programs[f][v]) continue;
      clReleaseProgram(d->programs[f][v]);
      d->programs[f][v] = NULL;
      CLT__LIVE_DEC(CLT__LIVE_PROGRAMS);
    }
}

/* ---- arguments and launches ------------------------------------------------------------- */

/* Room for an argument of size bytes; NULL (and a->err set) when the record is full. */
static unsigned char *arg_room(clt__cl_args *a, size_t size) {
  if (a->err != CL_SUCCESS) return NULL;
  if (a->i >= CLT__MAX_KARGS || size > CLT__KARG_BYTES - a->used) {
    a->err = CL_INVALID_ARG_SIZE;
    return NULL;
  }
  a->off[a->i] = (uint16_t)a->used;
  a->size[a->i] = (uint16_t)size;
  a->used += size;
  return a->data + a->off[a->i++];
}

/* A launch whose arguments did not fit the record: clt's own limit, not OpenCL's, so named as
 * such (a kernel that needs more must take a struct, as fused chains' parameters do). */
static clt_status record_full(const clt__cl_args *a) {
  return clt__err(CLT_ERR_UNSUPPORTED, "kernel '%s' takes more than clt's argument record holds (%d arguments, %d "
                  "bytes): argument %u does not fit", a->k->name, CLT__MAX_KARGS, CLT__KARG_BYTES, a->i);
}

void clt__cl_arg(clt__cl_args *a, size_t size, const void *value) {
  unsigned char *p = arg_room(a, size);
  if (p) memcpy(p, value, size);
}

cl_uint clt__cl_arg_slot(clt__cl_args *a, size_t size) {
  cl_uint i = a->i;
  arg_room(a, size);
  return i;
}

/* Sets a's arguments on its kernel and enqueues it, under the enqueue lock: another thread
 * setting the same kernel's arguments in between would launch it with a mix of both. A failure
 * is recorded with the call, the argument (clSetKernelArg) or the range (global, dims of it). */
static clt_status enqueue(clt__cl_dev *d, const clt__cl_args *a, cl_uint dims, const size_t *global,
                          const size_t *local) {
  cl_kernel k = a->k->kernel;
  cl_int err = CL_SUCCESS;
  cl_uint i = 0;
  clt__mutex_lock(&d->enqueue_lock);
  for (; i < a->i && err == CL_SUCCESS; i++) err = CLT__CL(clSetKernelArg(k, i, a->size[i], a->data + a->off[i]));
  bool args_set = err == CL_SUCCESS;
  if (args_set) err = CLT__CL(clEnqueueNDRangeKernel(d->queue, k, dims, NULL, global, local, 0, NULL, NULL));
  clt__mutex_unlock(&d->enqueue_lock);
  if (args_set) clt__cl_queued(d);
  if (err == CL_SUCCESS) {
    atomic_fetch_add(&clt__kernel_launches, 1);
    return CLT_OK;
  }
  if (!args_set) return clt__cl_fail("clSetKernelArg", err, "argument %u of kernel '%s'", i - 1, a->k->name);
  if (dims == 1)
    return clt__cl_fail("clEnqueueNDRangeKernel", err, "kernel '%s' over %zu work-items", a->k->name, global[0]);
  return clt__cl_fail("clEnqueueNDRangeKernel", err, "kernel '%s' over %zu x %zu x %zu work-items", a->k->name,
                      global[0], global[1], global[2]);
}

clt_status clt__cl_launch(clt__cl_dev *d, const clt__cl_args *a, size_t n) {
  if (a->err != CL_SUCCESS) return record_full(a);
  size_t local = a->k->local, global = (n + local - 1) / local * local;
  return enqueue(d, a, 1, &global, &local);
}

clt_status clt__cl_launch_groups(clt__cl_dev *d, const clt__cl_args *a, size_t groups, size_t local) {
  if (a->err != CL_SUCCESS) return record_full(a);
  size_t global = groups * local;
  return enqueue(d, a, 1, &global, &local);
}

clt_status clt__cl_launch_rows(clt__cl_dev *d, const clt__cl_args *a, size_t inner, size_t rows, size_t group) {
  if (inner == 0 || rows == 0) return CLT_OK;
  if (a->err != CL_SUCCESS) return record_full(a);
  const clt__cl_kernel_entry *k = a->k;
  /* Work-group shapes are powers of two, (l0, l1) with l0 the smallest covering the row (at most
   * the kernel's 1-D size) and l0 * l1 that size, so PoCL compiles a few shapes per kernel, never
   * one per tensor size. Where group is larger (CPU walks), rows of 33 or more elements that
   * fill at least 8 groups of it take it instead: one more shape per kernel and row length, and
   * on PoCL a broadcast add over rows of 100 floats at 28-30 GB/s against 19-21 (n = 1e7).
   * Dimension 1 stays under 32768 groups (NVIDIA allows 65535) and dimension 2 takes the rest. */
  size_t local[3] = {1, 1, 1}, global[3];
  while (local[0] < inner && local[0] < k->local) local[0] *= 2;
  local[1] = k->local / local[0];
  if (group > k->local && local[0] >= 64 && rows >= 8 * (group / local[0])) local[1] = group / local[0];
  if (d->max_item[1] > 0 && local[1] > d->max_item[1]) local[1] = d->max_item[1];
  global[0] = (inner + local[0] - 1) / local[0] * local[0];
  size_t slab = local[1] * 32768;
  if (rows <= slab) {
    global[1] = (rows + local[1] - 1) / local[1] * local[1];
    global[2] = 1;
  } else {
    global[1] = slab;
    global[2] = (rows + slab - 1) / slab;
  }
  return enqueue(d, a, 3, global, local);
}

/* Division by the invariant d (1 <= d < 2^31) for n < 2^31: n / d = (mul_hi(n, magic) + n) >> shift
 * ("Division by invariant integers using multiplication", Granlund and Montgomery, 1994). */
void clt__cl_divisor(uint64_t d, cl_uint *magic, cl_uint *shift) {
  cl_uint s = 0;
  while (((uint64_t)1 << s) < d) s++;
  *magic = (cl_uint)((((uint64_t)1 << 32) * (((uint64_t)1 << s) - d)) / d + 1);
  *shift = s;
}

static clt_status launch_walk(clt__cl_dev *d, clt__cl_args *a, cl_uint walk_arg, const clt__iter *it) {
  const int64_t limit = INT32_MAX;
  if (it->numel == 0) return CLT_OK;
  if (it->ndim > 1) {
    /* Elements are independent, so any dim may be the row: take the one along which the most
     * operands step by one element, the output's breaking ties, so the row is read and written
     * with wide loads and stores (a.T + b.T: 2x faster on PoCL than rows along the output). */
    int best = it->ndim - 1, best_score = -1;
    for (int j = it->ndim - 1; j >= 0; j--) {
      int score = 0;
      for (int q = 0; q < it->nops; q++) score += it->strides[q][j] == 1 ? 2 : 0;
      score += it->strides[0][j] == 1;
      if (score > best_score) best = j, best_score = score;
    }
    if (best != it->ndim - 1) {
      clt__iter r = *it;
      for (int j = best; j < it->ndim - 1; j++) {
        r.shape[j] = it->shape[j + 1];
        for (int q = 0; q < it->nops; q++) r.strides[q][j] = it->strides[q][j + 1];
      }
      r.shape[it->ndim - 1] = it->shape[best];
      for (int q = 0; q < it->nops; q++) r.strides[q][it->ndim - 1] = it->strides[q][best];
      return launch_walk(d, a, walk_arg, &r);
    }
  }
  int64_t inner = it->shape[it->ndim - 1], rows = it->numel / inner;
  if (it->ndim > CLT__WALK_DIMS || (rows > limit && rows / it->shape[0] > limit)) {
    /* one launch per index of the outermost dim */
    clt__iter sub = *it;
    sub.ndim = it->ndim - 1;
    sub.numel = it->numel / it->shape[0];
    for (int j = 0; j < sub.ndim; j++) {
      sub.shape[j] = it->shape[j + 1];
      for (int q = 0; q < it->nops; q++) sub.strides[q][j] = it->strides[q][j + 1];
    }
    for (int64_t i = 0; i < it->shape[0]; i++) {
      for (int q = 0; q < it->nops; q++) sub.offset[q] = it->offset[q] + i * it->strides[q][0];
      clt_status s = launch_walk(d, a, walk_arg, &sub);
      if (s != CLT_OK) return s;
    }
    return CLT_OK;
  }
  if (rows > limit) { /* chunks of the outermost dim */
    int64_t per = it->numel / it->shape[0], chunk = limit / (rows / it->shape[0]);
    for (int64_t i = 0; i < it->shape[0]; i += chunk) {
      clt__iter sub = *it;
      sub.shape[0] = it->shape[0] - i < chunk ? it->shape[0] - i : chunk;
      sub.numel = sub.shape[0] * per;
      for (int q = 0; q < it->nops; q++) sub.offset[q] = it->offset[q] + i * it->strides[q][0];
      clt_status s = launch_walk(d, a, walk_arg, &sub);
      if (s != CLT_OK) return s;
    }
    return CLT_OK;
  }
  clt__cl_walk w;
  memset(&w, 0, sizeof w);
  w.rows = rows;
  int pad = CLT__WALK_DIMS - it->ndim;
  for (int j = 0; j < CLT__WALK_DIMS; j++) {
    int64_t n = j < pad ? 1 : it->shape[j - pad];
    w.shape[j] = n;
    if (j < CLT__WALK_DIMS - 1) clt__cl_divisor((uint64_t)n, &w.magic[j], &w.shift[j]);
    for (int q = 0; q < it->nops; q++) w.stride[q][j] = j < pad ? 0 : it->strides[q][j - pad];
  }
  for (int q = 0; q < it->nops; q++) w.offset[q] = it->offset[q];
  if (walk_arg >= a->i || a->size[walk_arg] != sizeof w)
    return clt__cl_fail("clSetKernelArg", CL_INVALID_ARG_SIZE, "argument %u of kernel '%s' is no walk slot", walk_arg,
                        a->k->name);
  memcpy(a->data + a->off[walk_arg], &w, sizeof w);
  return clt__cl_launch_rows(d, a, (size_t)inner, (size_t)rows, a->k->walk_local);
}

clt_status clt__cl_launch_iter(clt__cl_dev *d, clt__cl_args *a, cl_uint walk_arg, const clt__iter *it) {
  if (it->contiguous || it->ndim == 0) return clt__cl_launch(d, a, (size_t)it->numel);
  if (a->err != CL_SUCCESS) return record_full(a);
  return launch_walk(d, a, walk_arg, it);
}

void clt__cl_iter_from(clt__cl_iter *out, const clt__iter *it) {
  memset(out, 0, sizeof *out);
  out->ndim = it->ndim;
  out->numel = it->numel;
  for (int d = 0; d < it->ndim; d++) {
    out->shape[d] = it->shape[d];
    for (int k = 0; k < it->nops; k++) out->stride[k][d] = it->strides[k][d];
  }
  for (int k = 0; k < it->nops; k++) out->offset[k] = it->offset[k];
}
