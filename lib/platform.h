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

/* Marks a printf-like function so that GCC and clang check its calls. mingw-w64 builds with
 * __USE_MINGW_ANSI_STDIO (meson.build), whose printf is the C99 one (%zu, %lld), but there
 * "printf" names the Microsoft format, which knows neither: gnu_printf says which one is meant. */
#if defined(__MINGW32__)
#define CLT__PRINTF(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#elif defined(__GNUC__)
#define CLT__PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define CLT__PRINTF(fmt, first)
#endif

/* fopen and remove of a UTF-8 path (on Windows through the wide-character calls, so that any
 * name opens, not only those of the ANSI code page). */
FILE *clt__fopen(const char *path, const char *mode);
int clt__remove(const char *path);
/* Longest path clt builds in a buffer of its own (cache entries, temporaries). */
#define CLT__PATH_MAX 4096
/* The per-user cache folder of the platform with app appended, into buf: Windows
 * %LOCALAPPDATA%\app, macOS $HOME/Library/Caches/app, elsewhere $XDG_CACHE_HOME/app or
 * $HOME/.cache/app. False when the platform names none (no HOME) or it does not fit. */
bool clt__platform_cache_dir(const char *app, char *buf, size_t cap);
/* The program-binary cache directory in effect (cache_dir.c): clt_set_cache_dir's, else
 * $CLT_CACHE_DIR, else clt__platform_cache_dir("clt"). False when there is none. */
bool clt__cache_dir(char *buf, size_t cap);
/* getenv, NULL when unset or empty. */
const char *clt__getenv(const char *name);
/* Seconds on a monotonic clock. */
double clt__now(void);
bool clt__path_is_absolute(const char *path);
/* Creates path and its parents (mode 0700 where modes exist); true on success or when it
 * exists. */
bool clt__mkdir_p(const char *path);
/* Size of an open file, -1 when unknown (a pipe, a device, anything but a regular file). */
long long clt__file_size(FILE *f);
/* The names (malloc'd, free each and the array) of the regular files in dir ending with ext. */
bool clt__list_dir(const char *dir, const char *ext, char ***names, size_t *count);

/* A number distinct per process, for temporary file names. */
unsigned long clt__process_id(void);

/* ---- replacing a file atomically --------------------------------------------------------

   A save writes a new temporary file beside its destination and renames it over the
   destination. The temporary is named CLT__TMP_PREFIX "<pid>-<12 random characters>" in the
   destination's directory: short whatever the destination's name (a legal 255-byte name still
   saves), unpredictable, and created new and exclusively, so nothing already there (a planted
   symlink, a FIFO, another process's file) is ever opened, followed or blocked on. A process
   killed mid-save leaves its temporary; the next save into that directory removes the
   temporaries of processes that no longer exist (see clt__tmp_clean_stale). */
#define CLT__TMP_PREFIX ".clt-tmp-"
/* Bytes a temporary's name may add to its directory's length, with the terminating NUL. */
#define CLT__TMP_NAME_MAX 48
/* Creates the temporary for path: its name goes to tmp (at least strlen(path) +
   CLT__TMP_NAME_MAX bytes), the open file to *f. 0 on success, else an errno value. */
int clt__tmp_create(const char *path, char *tmp, size_t cap, FILE **f);
/* Makes the temporary durable and puts it at path: gives it the permission bits of the regular
   file it replaces (a new file gets the umask's), flushes and syncs it, closes it, renames it
   over path, then syncs the directory. Closes f in every case and removes the temporary on
   every failure. 0 on success, else an errno value; *renamed says whether path already holds
   the new data (only the directory sync failed). */
int clt__tmp_commit(FILE *f, const char *tmp, const char *path, bool *renamed);
/* Closes f and removes the temporary (a failed save). */
void clt__tmp_discard(FILE *f, const char *tmp);
/* Age, in seconds, after which a dead process's temporary counts as stale. A temporary in a
   directory several machines share may belong to a live process on another machine whose pid is
   free here; its data keeps changing while it is written, so an old one is abandoned. */
#define CLT__TMP_STALE_S 600
/* Removes, from path's directory, the temporaries this user's processes left when they died
   (killed mid-save): regular files named CLT__TMP_PREFIX "<pid>-..." whose pid is no running
   process and that were not modified for CLT__TMP_STALE_S seconds. Best effort, silent. */
void clt__tmp_clean_stale(const char *path);

/* ---- trusting a directory ----------------------------------------------------------------- */

/* Whether dir (which must exist) can be trusted with code the library runs (kernel sources,
   program binaries): owned by this user, writable by no one else, and every directory above it
   owned by this user or root and writable by no one else unless sticky (/tmp), as ssh requires
   of its key files. When not, why gets the reason. (Windows: per-user profile directories are
   private by their ACLs; no check is made there.) */
bool clt__dir_is_private(const char *dir, char *why, size_t cap);

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
