/* Libraries loaded at run time: lib/dynlib.h. */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dladdr and secure_getenv (glibc hides them otherwise) */
#endif

#include "dynlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

/* ---- the platform's library calls ----------------------------------------------------------- */

typedef void *lib_handle;
/* A function pointer and an object pointer are the same size wherever dlsym works (POSIX
 * requires it); the table is filled by copying bytes, which ISO C allows, not by a cast. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers as wide as data pointers");

/* Opens path; on failure writes the system's reason to why. A bare name is looked up where the
 * system looks for libraries (on Windows: the application's directory, System32 and the
 * directories the application added, not the current directory). */
static lib_handle lib_open(const char *path, bool bare, char *why, size_t len) {
#if defined(_WIN32)
  HMODULE h = bare ? LoadLibraryExA(path, NULL, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS) : LoadLibraryA(path);
  if (!h) {
    DWORD code = GetLastError();
    char msg[256] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, msg, sizeof msg, NULL);
    msg[strcspn(msg, "\r\n")] = '\0';
    snprintf(why, len, "%s: error %lu: %s", path, (unsigned long)code, msg);
  }
  return (lib_handle)h;
#else
  (void)bare;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(why, len, "%s", e ? e : path);
  }
  return h;
#endif
}

static void *lib_sym(lib_handle h, const char *name) {
#if defined(_WIN32)
  FARPROC f = GetProcAddress((HMODULE)h, name);
  void *p;
  memcpy(&p, &f, sizeof p);
  return p;
#else
  return dlsym(h, name);
#endif
}

static void lib_close(lib_handle h) {
#if defined(_WIN32)
  FreeLibrary((HMODULE)h);
#else
  dlclose(h);
#endif
}

/* Where the library that defines sym was found, for the note; "" when the system cannot say. */
static void lib_path(lib_handle h, void *sym, char *out, size_t len) {
  out[0] = '\0';
#if defined(_WIN32)
  (void)sym;
  DWORD n = GetModuleFileNameA((HMODULE)h, out, (DWORD)len);
  if (n == 0 || n >= len) out[0] = '\0';
#else
  (void)h;
  Dl_info dl;
  if (dladdr(sym, &dl) && dl.dli_fname) snprintf(out, len, "%s", dl.dli_fname);
#endif
}

/* A variable that names code to load: ignored in a set-user-ID or set-group-ID process, as the
 * system ignores LD_LIBRARY_PATH there. */
static const char *library_env(const char *name) {
#if defined(__GLIBC__)
  const char *v = secure_getenv(name);
  return v && *v ? v : NULL;
#else
  return clt__getenv(name);
#endif
}

/* ---- one library, loaded once -------------------------------------------------------------- */

typedef clt__library library;

static clt__mutex load_lock = CLT__MUTEX_INIT;

/* Fills lib's table from h; the first function missing there, or NULL when none is. */
static const char *fill(library *lib, lib_handle h, void **first) {
  for (size_t i = 0; i < lib->nrows; i++) {
    void *p = lib_sym(h, lib->rows[i].name);
    if (!p) {
      memset(lib->table, 0, lib->nrows * sizeof(void *));
      return lib->rows[i].name;
    }
    memcpy((char *)lib->table + lib->rows[i].offset, &p, sizeof p);
    if (i == 0) *first = p;
  }
  return NULL;
}

static void note_loaded(library *lib, lib_handle h, void *first, const char *name) {
  char path[400];
  lib_path(h, first, path, sizeof path);
  if (*path && strcmp(path, name) != 0)
    snprintf(lib->note, sizeof lib->note, "%s: %s (%s)", lib->what, name, path);
  else
    snprintf(lib->note, sizeof lib->note, "%s: %s", lib->what, name);
}

/* $env's library, else the functions the process already has (it links the library, or
 * preloads another that defines them: Oclgrind's runtime, which the tests and
 * tools/oclgrind.sh run under, takes the place of the ICD loader so), else the first of
 * lib->names that loads with every function. Fills the table and the note. */
static bool load(library *lib) {
  const char *env = library_env(lib->env);
  void *first = NULL;
#if !defined(_WIN32)
  if (!env && !fill(lib, RTLD_DEFAULT, &first)) {
    note_loaded(lib, RTLD_DEFAULT, first, "in the process already");
    return true;
  }
#endif
  const char *const single[] = {env, NULL};
  const char *const *names = env ? single : lib->names;
  char tried[512] = "";
  size_t used = 0;
  for (; *names; names++) {
    char why[256];
    lib_handle h = lib_open(*names, !env, why, sizeof why);
    const char *missing = h ? fill(lib, h, &first) : NULL;
    if (h && !missing) {
      note_loaded(lib, h, first, *names);
      return true;
    }
    if (h) {
      snprintf(why, sizeof why, "%s has no %s", *names, missing);
      lib_close(h);
    }
    used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", why);
    if (used >= sizeof tried) used = sizeof tried - 1;
  }
  if (env)
    snprintf(lib->note, sizeof lib->note, "%s: not loaded: $%s: %s; %s", lib->what, lib->env, tried, lib->effect);
  else
    snprintf(lib->note, sizeof lib->note, "%s: not loaded: %s; %s (%s)", lib->what, tried, lib->effect, lib->hint);
  return false;
}

bool clt__library_load(library *lib) {
  int s = atomic_load_explicit(&lib->state, memory_order_acquire);
  if (s == 0) {
    clt__mutex_lock(&load_lock);
    s = atomic_load_explicit(&lib->state, memory_order_relaxed);
    if (s == 0) {
      s = load(lib) ? 1 : -1;
      atomic_store_explicit(&lib->state, s, memory_order_release);
      /* its destructors, registered as it loaded, run at exit after a queue drain armed from
       * here on (core.h) */
      if (s > 0) clt__exit_drain_arm(NULL);
    }
    clt__mutex_unlock(&load_lock);
  }
  return s > 0;
}

