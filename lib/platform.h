/* The small platform layer: everything in lib/ that is not portable C11 lives in platform.c. */
#ifndef CLT_PLATFORM_H
#define CLT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(_MSC_VER) && !defined(__clang__)
#define CLT__TLS __declspec(thread)
#else
#define CLT__TLS _Thread_local
#endif

/* getenv, NULL when unset or empty. */
const char *clt__getenv(const char *name);
/* Seconds on a monotonic clock. */
double clt__now(void);
bool clt__path_is_absolute(const char *path);
/* Creates path and its parents (mode 0700 where modes exist); true on success or when it
 * exists. */
bool clt__mkdir_p(const char *path);
/* Size of an open file, -1 when unknown. */
long long clt__file_size(FILE *f);
/* Replaces dst with src atomically where the system allows it. 0 on success, else errno. */
int clt__rename_replace(const char *src, const char *dst);
/* Makes written data durable before a rename (fsync); 0 on success. */
int clt__file_sync(FILE *f);
/* The names (malloc'd, free each and the array) of the regular files in dir ending with ext. */
bool clt__list_dir(const char *dir, const char *ext, char ***names, size_t *count);

/* A number distinct per process, for temporary file names. */
unsigned long clt__process_id(void);

/* ---- threads (platform.c, "locks and limits") -------------------------------------------- */

/* A plain (not recursive) mutex: pthreads, or an SRWLOCK on Windows, where threads.h is often
 * missing. Both initialise statically (CLT__MUTEX_INIT) with no once-call, so a lock guarding
 * a library's first use needs no initialisation race of its own. Lock and unlock cannot fail
 * on a mutex that is initialised and used correctly. */
#if defined(_WIN32)
typedef struct {
  void *opaque; /* the SRWLOCK */
} clt__mutex;
#define CLT__MUTEX_INIT {0}
void clt__mutex_lock(clt__mutex *m);
void clt__mutex_unlock(clt__mutex *m);
#else
#include <pthread.h>
typedef pthread_mutex_t clt__mutex;
#define CLT__MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
static inline void clt__mutex_lock(clt__mutex *m) { pthread_mutex_lock(m); }
static inline void clt__mutex_unlock(clt__mutex *m) { pthread_mutex_unlock(m); }
#endif
/* For mutexes inside allocated objects: false when the system refuses one. */
bool clt__mutex_init(clt__mutex *m);
void clt__mutex_destroy(clt__mutex *m);

/* Bytes this process can still map, as far as its limits say: RLIMIT_AS and RLIMIT_DATA less
 * what it already uses, and, when with_available, the memory the system has available
 * (MemAvailable plus free swap: reading it costs tens of microseconds). UINT64_MAX when
 * nothing limits it or the system does not say; *what names the tightest limit. */
uint64_t clt__host_mem_room(bool with_available, const char **what);

#endif
