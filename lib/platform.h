/* The small platform layer: everything in lib/ that is not portable C11 lives in platform.c. */
#ifndef CLT_PLATFORM_H
#define CLT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
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

#endif
