/* Loads the OpenCL ICD loader and CLBlast at run time and fills the tables of cl_api.h.
 *
 * Each library is loaded at most once per process, on the first use that needs it (listing or
 * opening an OpenCL device, wrapping an application's context, asking the backend's status),
 * under one mutex, and the outcome (tables, note) is published with a release store: threads
 * that find it set read the tables without a lock.
 *
 * A library that loaded is kept until the process exits, deliberately: ICD drivers start
 * threads and register callbacks (PoCL's, our deferred GEMM's completion callback) that may
 * still run after the last device is released, CLBlast keeps its kernel cache in C++ statics
 * whose destructors call OpenCL at exit, and an application may hold its own OpenCL objects
 * made through the same loader; unloading under any of them would crash. What the system
 * loader allocates for it is reachable from its list of loaded objects, so valgrind and
 * LeakSanitizer report nothing. A library that loaded but lacks a function is unloaded at
 * once: nothing of it ran but its initialisers. */
#define CLT__CL_NO_REDIRECT
#include "cl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dynlib.h"

/* Each row must match the header's own declaration (a wrong row would be a wrong call). The
 * header's function is named only in an unevaluated _Generic, so no reference to it is
 * emitted and libclt imports nothing from the library. */
#define CHECK_ROW(ret, name, params)                                                             \
  _Static_assert(_Generic(&name, ret(CL_API_CALL *) params: 1, default: 0), "cl_api.h: " #name);
CLT__CL_FUNCTIONS(CHECK_ROW)
#undef CHECK_ROW

clt__cl_api clt__cl_fn;

/* ---- OpenCL --------------------------------------------------------------------------------- */

#define CL_ROW(ret, name, params) {#name, offsetof(clt__cl_api, p_##name)},
static const clt__symbol_row cl_rows[] = {CLT__CL_FUNCTIONS(CL_ROW)};
#undef CL_ROW

static const char *const cl_names[] = {
#if defined(_WIN32)
    "OpenCL.dll",
#elif defined(__APPLE__)
    "/System/Library/Frameworks/OpenCL.framework/OpenCL",
#elif defined(__ANDROID__)
    "libOpenCL.so",
#else
    "libOpenCL.so.1",
#endif
    NULL};

static clt__library opencl = {
    .what = "OpenCL",
    .env = "CLT_OPENCL_LIBRARY",
    .names = cl_names,
    .effect = "no OpenCL device is listed",
    .hint = "install an OpenCL ICD loader and a driver, or name the loader in $CLT_OPENCL_LIBRARY",
    .rows = cl_rows,
    .nrows = sizeof cl_rows / sizeof *cl_rows,
    .table = &clt__cl_fn,
};

bool clt__cl_load(void) { return clt__library_load(&opencl); }

/* ---- CLBlast -------------------------------------------------------------------------------- */

#ifdef CLT_HAVE_CLBLAST
#define CHECK_ROW(ret, name, params) _Static_assert(_Generic(&name, ret(*) params: 1, default: 0), "cl_api.h: " #name);
CLT__CLBLAST_FUNCTIONS(CHECK_ROW)
#undef CHECK_ROW

clt__clblast_api clt__clblast_fn;

#define CLBLAST_ROW(ret, name, params) {#name, offsetof(clt__clblast_api, p_##name)},
static const clt__symbol_row clblast_rows[] = {CLT__CLBLAST_FUNCTIONS(CLBLAST_ROW)};
#undef CLBLAST_ROW

/* The major version clt was built against: its functions' signatures are those of that one. */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char *const clblast_names[] = {
#if defined(_WIN32)
    "clblast.dll",
#elif defined(__APPLE__)
    "libclblast." STR(CLBLAST_VERSION_MAJOR) ".dylib",
#elif defined(__ANDROID__)
    "libclblast.so",
#else
    "libclblast.so." STR(CLBLAST_VERSION_MAJOR),
#endif
    NULL};

static clt__library clblast = {
    .what = "CLBlast",
    .env = "CLT_CLBLAST_LIBRARY",
    .names = clblast_names,
    .effect = "matrix products do without it",
    .hint = "install CLBlast, or name it in $CLT_CLBLAST_LIBRARY",
    .rows = clblast_rows,
    .nrows = sizeof clblast_rows / sizeof *clblast_rows,
    .table = &clt__clblast_fn,
};

bool clt__clblast_load(void) { return clt__cl_load() && clt__library_load(&clblast); }
#else
bool clt__clblast_load(void) { return false; }
#endif

void clt__cl_load_note(char *buf, size_t len) {
  if (!clt__cl_load()) {
    snprintf(buf, len, "%s", opencl.note);
    return;
  }
#ifdef CLT_HAVE_CLBLAST
  clt__clblast_load();
  snprintf(buf, len, "%s; %s", opencl.note, clblast.note);
#else
  snprintf(buf, len, "%s; CLBlast: not in this build", opencl.note);
#endif
}
