/* The backend registry: every backend this build has, in the order meson.build lists them, the
 * reference backend (host memory, plain loops) first. The list itself is generated
 * (clt_backends.h), so adding a backend changes no file here. */
#include "backend.h"
#include "clt_backends.h" /* CLT__BACKENDS(X): X(host) X(cl) ..., from meson.build */

#define CLT__DECLARE(name) extern const clt__backend_entry clt__backend_##name;
CLT__BACKENDS(CLT__DECLARE)
#undef CLT__DECLARE

#define CLT__ENTRY(name) &clt__backend_##name,
static const clt__backend_entry *const registry[] = {CLT__BACKENDS(CLT__ENTRY)};
#undef CLT__ENTRY

size_t clt__backend_count(void) { return sizeof registry / sizeof *registry; }

const clt__backend_entry *clt__backend_at(size_t i) { return i < clt__backend_count() ? registry[i] : NULL; }

clt_status clt__reference_open(clt_device **out) { return registry[0]->open(0, out); }
