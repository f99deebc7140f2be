/* The only file in lib/ (outside the OpenCL backend) that uses operating-system calls. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif

#include "platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <direct.h>
#include <io.h>
#include <process.h>
#include <windows.h>
#else
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif

const char *clt__getenv(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

double clt__now(void) {
#if defined(_WIN32)
  LARGE_INTEGER f, c;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (double)c.QuadPart / (double)f.QuadPart;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

bool clt__path_is_absolute(const char *path) {
  if (!path || !*path) return false;
#if defined(_WIN32)
  return path[0] == '\\' || path[0] == '/' || (path[1] == ':' && (path[2] == '\\' || path[2] == '/'));
#else
  return path[0] == '/';
#endif
}

static int make_dir(const char *p) {
#if defined(_WIN32)
  return _mkdir(p);
#else
  return mkdir(p, 0700);
#endif
}

bool clt__mkdir_p(const char *path) {
  char buf[4096]; /* no allocation here: every host allocation goes through fault.c */
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return false;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == '\\' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (make_dir(buf) != 0 && errno != EEXIST) return false;
      buf[i] = c;
    }
  }
  return true;
}

long long clt__file_size(FILE *f) {
#if defined(_WIN32)
  return _filelengthi64(_fileno(f));
#else
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) return -1;
  return (long long)sb.st_size;
#endif
}

int clt__rename_replace(const char *src, const char *dst) {
#if defined(_WIN32)
  return MoveFileExA(src, dst, MOVEFILE_REPLACE_EXISTING) ? 0 : EIO;
#else
  return rename(src, dst) == 0 ? 0 : errno;
#endif
}

int clt__file_sync(FILE *f) {
  if (fflush(f) != 0) return errno ? errno : EIO;
#if defined(_WIN32)
  return _commit(_fileno(f)) == 0 ? 0 : errno;
#else
  return fsync(fileno(f)) == 0 ? 0 : errno;
#endif
}

unsigned long clt__process_id(void) {
#if defined(_WIN32)
  return (unsigned long)_getpid();
#else
  return (unsigned long)getpid();
#endif
}

static bool ends_with(const char *s, const char *ext) {
  size_t n = strlen(s), e = strlen(ext);
  return n > e && strcmp(s + n - e, ext) == 0;
}

static bool add_name(char ***names, size_t *count, size_t *cap, const char *name) {
  if (*count == *cap) {
    size_t c = *cap ? 2 * *cap : 16;
    char **grown = realloc(*names, c * sizeof *grown);
    if (!grown) return false;
    *names = grown;
    *cap = c;
  }
  size_t n = strlen(name) + 1;
  char *copy = malloc(n);
  if (!copy) return false;
  memcpy(copy, name, n);
  (*names)[(*count)++] = copy;
  return true;
}

bool clt__list_dir(const char *dir, const char *ext, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  size_t cap = 0;
  bool ok = true;
#if defined(_WIN32)
  char pattern[4096];
  snprintf(pattern, sizeof pattern, "%s\\*%s", dir, ext);
  WIN32_FIND_DATAA fd;
  HANDLE h = FindFirstFileA(pattern, &fd);
  if (h == INVALID_HANDLE_VALUE) return GetLastError() == ERROR_FILE_NOT_FOUND;
  do {
    if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) && ends_with(fd.cFileName, ext))
      ok = add_name(names, count, &cap, fd.cFileName);
  } while (ok && FindNextFileA(h, &fd));
  FindClose(h);
#else
  DIR *d = opendir(dir);
  if (!d) return false;
  for (struct dirent *e; ok && (e = readdir(d));) {
    if (!ends_with(e->d_name, ext)) continue;
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ok = add_name(names, count, &cap, e->d_name);
  }
  closedir(d);
#endif
  if (!ok) {
    for (size_t i = 0; i < *count; i++) free((*names)[i]);
    free(*names);
    *names = NULL;
    *count = 0;
  }
  return ok;
}

/* ---- locks and limits ------------------------------------------------------------------- */

#if defined(_WIN32)
void clt__mutex_lock(clt__mutex *m) { AcquireSRWLockExclusive((PSRWLOCK)m); }
void clt__mutex_unlock(clt__mutex *m) { ReleaseSRWLockExclusive((PSRWLOCK)m); }
bool clt__mutex_init(clt__mutex *m) {
  InitializeSRWLock((PSRWLOCK)m);
  return true;
}
void clt__mutex_destroy(clt__mutex *m) { (void)m; }
#else
bool clt__mutex_init(clt__mutex *m) { return pthread_mutex_init(m, NULL) == 0; }
void clt__mutex_destroy(clt__mutex *m) { pthread_mutex_destroy(m); }
#endif

#if defined(__linux__)
/* Fields of /proc/self/statm in bytes: the whole address space and data + stack. */
static bool statm(uint64_t *size, uint64_t *data) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long v[6];
  bool ok = f && fscanf(f, "%llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6;
  if (f) fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  if (!ok || page <= 0) return false;
  *size = v[0] * (uint64_t)page;
  *data = v[5] * (uint64_t)page;
  return true;
}

/* MemAvailable + SwapFree of /proc/meminfo in bytes. */
static bool available(uint64_t *out) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return false;
  char line[256];
  unsigned long long kb, avail = 0, swap = 0;
  bool seen = false;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = kb, seen = true;
    else if (sscanf(line, "SwapFree: %llu kB", &kb) == 1) swap = kb;
  }
  fclose(f);
  *out = (avail + swap) * 1024;
  return seen;
}
#endif

uint64_t clt__host_mem_room(bool with_available, const char **what) {
  uint64_t room = UINT64_MAX;
  *what = "no limit";
#if !defined(_WIN32)
  struct rlimit as, data;
  bool as_set = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
  bool data_set = getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY;
  uint64_t used_as = 0, used_data = 0;
#if defined(__linux__)
  if ((as_set || data_set) && !statm(&used_as, &used_data)) used_as = used_data = 0;
#endif
  if (as_set) {
    room = (uint64_t)as.rlim_cur > used_as ? (uint64_t)as.rlim_cur - used_as : 0;
    *what = "RLIMIT_AS (ulimit -v)";
  }
  if (data_set) {
    uint64_t r = (uint64_t)data.rlim_cur > used_data ? (uint64_t)data.rlim_cur - used_data : 0;
    if (r < room) room = r, *what = "RLIMIT_DATA (ulimit -d)";
  }
#endif
#if defined(__linux__)
  uint64_t avail;
  if (with_available && available(&avail) && avail < room) room = avail, *what = "available memory";
#else
  (void)with_available;
#endif
  return room;
}
