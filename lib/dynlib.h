/* Libraries loaded at run time (dlopen / LoadLibrary), each at most once per process, with a
 * table of its functions: the OpenCL ICD loader and CLBlast (lib/cl/loader.c), oneDNN
 * (lib/blas.c). A library that loaded is kept until the process exits (lib/cl/loader.c says
 * why); one that lacks a function is unloaded at once. */
#ifndef CLT_DYNLIB_H
#define CLT_DYNLIB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  const char *name;
  size_t offset; /* of its pointer in the table */
} clt__symbol_row;

typedef struct {
  const char *what;          /* "OpenCL", "CLBlast" */
  const char *env;           /* the variable that names the library */
  const char *const *names;  /* what to try when it is not set, NULL-terminated */
  const char *effect;        /* what its absence means */
  const char *hint;          /* where to get it, when $env is not set */
  const clt__symbol_row *rows;
  size_t nrows;
  void *table;               /* of function pointers, filled by their bytes */
  atomic_int state;          /* 0 not tried, 1 loaded, -1 missing */
  char note[640];            /* what was loaded, or why not; set before state */
} clt__library;

/* Loads lib once per process (thread-safe): $env's library, else the functions the process
 * already has (it links the library, or preloads another that defines them, as Oclgrind's
 * runtime does for OpenCL), else the first of names that loads with every function. Fills the
 * table and the note; true when loaded. */
bool clt__library_load(clt__library *lib);

#endif
