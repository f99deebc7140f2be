/* The only file in lib/ (outside the OpenCL backend) that uses operating-system calls. */
#if defined(_WIN32)
#define _CRT_RAND_S /* rand_s */
#else
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath and S_ISVTX */
#endif

#include "platform.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <time.h>

const char *clt__getenv(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

#if defined(_WIN32)
/* Paths are UTF-8 everywhere in clt; Windows' narrow-character calls read them in the ANSI code
 * page instead, where a name outside it (most non-Latin names) cannot be opened. Every path
 * therefore crosses to the wide-character calls through these two, on the stack (no allocation:
 * every host allocation goes through fault.c). */
#define WPATH_MAX 4096
static bool wide_of(const char *utf8, wchar_t *out) {
  return MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, out, WPATH_MAX) > 0;
}
static bool utf8_of(const wchar_t *w, char *out, int cap) {
  return WideCharToMultiByte(CP_UTF8, 0, w, -1, out, cap, NULL, NULL) > 0;
}
#endif

FILE *clt__fopen(const char *path, const char *mode) {
#if defined(_WIN32)
  wchar_t wp[WPATH_MAX], wm[16];
  if (!wide_of(path, wp) || !wide_of(mode, wm)) {
    errno = ENOENT;
    return NULL;
  }
  return _wfopen(wp, wm);
#else
  return fopen(path, mode);
#endif
}

int clt__remove(const char *path) {
#if defined(_WIN32)
  wchar_t wp[WPATH_MAX];
  return wide_of(path, wp) ? _wremove(wp) : -1;
#else
  return remove(path);
#endif
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

bool clt__platform_cache_dir(const char *app, char *buf, size_t cap) {
  int n = -1;
#if defined(_WIN32)
  /* the wide form: the narrow environment holds a user name outside the ANSI code page as '?' */
  const wchar_t *local = _wgetenv(L"LOCALAPPDATA");
  char u[4 * MAX_PATH];
  if (local && *local && utf8_of(local, u, (int)sizeof u)) n = snprintf(buf, cap, "%s\\%s", u, app);
#else
  const char *home = clt__getenv("HOME");
#if defined(__APPLE__)
  if (home) n = snprintf(buf, cap, "%s/Library/Caches/%s", home, app);
#else
  const char *xdg = clt__getenv("XDG_CACHE_HOME");
  if (xdg) n = snprintf(buf, cap, "%s/%s", xdg, app);
  else if (home) n = snprintf(buf, cap, "%s/.cache/%s", home, app);
#endif
#endif
  return n > 0 && (size_t)n < cap;
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
  wchar_t wp[WPATH_MAX];
  if (!wide_of(p, wp)) {
    errno = ENOENT;
    return -1;
  }
  return _wmkdir(wp);
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
  char pattern[4096], name[4 * MAX_PATH];
  wchar_t wpattern[WPATH_MAX];
  snprintf(pattern, sizeof pattern, "%s\\*%s", dir, ext);
  if (!wide_of(pattern, wpattern)) return false;
  WIN32_FIND_DATAW fd;
  HANDLE h = FindFirstFileW(wpattern, &fd);
  if (h == INVALID_HANDLE_VALUE) return GetLastError() == ERROR_FILE_NOT_FOUND;
  do {
    if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) && utf8_of(fd.cFileName, name, (int)sizeof name) &&
        ends_with(name, ext))
      ok = add_name(names, count, &cap, name);
  } while (ok && FindNextFileW(h, &fd));
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

/* ---- replacing a file atomically -------------------------------------------------------- */

static bool is_sep(char c) {
#if defined(_WIN32)
  return c == '/' || c == '\\';
#else
  return c == '/';
#endif
}

/* Length of path's directory part, its last separator included (0: the current directory). */
static size_t dir_len(const char *path) {
  size_t n = strlen(path);
  while (n > 0 && !is_sep(path[n - 1])) n--;
  return n;
}

/* 64 bits no other process can guess. A failure of the system's source costs only
 * unpredictability, never safety: the temporary is created exclusively either way. */
static uint64_t random_bits(void) {
  static atomic_ullong counter;
  uint64_t r = 0;
#if defined(_WIN32)
  unsigned int a = 0, b = 0;
  if (rand_s(&a) == 0 && rand_s(&b) == 0) r = (uint64_t)a << 32 | b;
#else
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) r = 0;
    close(fd);
  }
#endif
  /* never twice the same within a process, even without the system's source */
  uint64_t c = atomic_fetch_add(&counter, 1) + 1;
  return r ^ (c * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(clt__now() * 1e9);
}

static void tmp_name(char *buf, size_t cap, const char *path) {
  static const char digits[] = "abcdefghijklmnopqrstuvwxyz012345";
  char rnd[13];
  uint64_t r = random_bits();
  for (int i = 0; i < 12; i++, r >>= 5) rnd[i] = digits[r & 31];
  rnd[12] = '\0';
  snprintf(buf, cap, "%.*s" CLT__TMP_PREFIX "%lu-%s", (int)dir_len(path), path, clt__process_id(), rnd);
}

#if defined(_WIN32)
static int errno_of(DWORD e) {
  switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION: return EACCES;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS: return EEXIST;
    case ERROR_FILENAME_EXCED_RANGE: return ENAMETOOLONG;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: return ENOSPC;
    default: return EIO;
  }
}
#endif

int clt__tmp_create(const char *path, char *tmp, size_t cap, FILE **f) {
  *f = NULL;
  if (cap < dir_len(path) + CLT__TMP_NAME_MAX) return ENAMETOOLONG;
  for (int attempt = 0; attempt < 16; attempt++) { /* a name taken is someone else's: draw again */
    tmp_name(tmp, cap, path);
#if defined(_WIN32)
    /* CREATE_NEW fails on any existing name, a link included; the reparse flag keeps even that
     * from being followed */
    wchar_t wtmp[WPATH_MAX];
    if (!wide_of(tmp, wtmp)) return ENOENT;
    HANDLE h = CreateFileW(wtmp, GENERIC_WRITE, 0, NULL, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (h == INVALID_HANDLE_VALUE) {
      int e = errno_of(GetLastError());
      if (e == EEXIST) continue;
      return e;
    }
    int fd = _open_osfhandle((intptr_t)h, _O_WRONLY | _O_BINARY);
    if (fd < 0) {
      CloseHandle(h);
      DeleteFileW(wtmp);
      return EIO;
    }
    FILE *fp = _fdopen(fd, "wb");
    if (!fp) {
      _close(fd);
      DeleteFileW(wtmp);
      return EIO;
    }
#else
    /* O_EXCL: fails on any existing name, symlinks and FIFOs included, without following or
     * opening it; 0666 leaves the new file's bits to the umask, as fopen would */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return errno;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return e ? e : EIO;
    }
#endif
    *f = fp;
    return 0;
  }
  return EEXIST;
}

void clt__tmp_discard(FILE *f, const char *tmp) {
  if (f) fclose(f);
  clt__remove(tmp);
}

#if !defined(_WIN32)
/* fsync of the directory holding path, so the rename itself survives a crash. File systems
 * that cannot sync a directory say EINVAL (or ENOTSUP): nothing more can be done there. */
static int sync_dir(const char *path) {
  char dir[4096];
  size_t n = dir_len(path);
  if (n == 0) snprintf(dir, sizeof dir, ".");
  else if (n >= sizeof dir) return 0;
  else snprintf(dir, sizeof dir, "%.*s", (int)n, path);
  int fd = open(dir, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  int e = fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP ? 0 : errno;
  close(fd);
  return e;
}
#endif

int clt__tmp_commit(FILE *f, const char *tmp, const char *path, bool *renamed) {
  *renamed = false;
  int err = fflush(f) != 0 ? (errno ? errno : EIO) : 0;
#if defined(_WIN32)
  if (!err && _commit(_fileno(f)) != 0) err = errno ? errno : EIO;
  if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
  wchar_t wtmp[WPATH_MAX], wpath[WPATH_MAX];
  if (!err && (!wide_of(tmp, wtmp) || !wide_of(path, wpath))) err = ENOENT;
  if (!err) {
    /* ReplaceFile keeps the replaced file's attributes and ACL; a new name or a link (replaced,
     * not followed) takes MoveFileEx */
    DWORD attr = GetFileAttributesW(wpath);
    bool plain = attr != INVALID_FILE_ATTRIBUTES && !(attr & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY));
    if (!(plain && ReplaceFileW(wpath, wtmp, NULL, REPLACEFILE_IGNORE_MERGE_ERRORS, NULL, NULL)) &&
        !MoveFileExW(wtmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
      err = errno_of(GetLastError());
  }
  if (err) {
    clt__remove(tmp);
    return err;
  }
  *renamed = true;
  return 0;
#else
  int fd = fileno(f);
  struct stat sb;
  /* a re-save keeps the permissions the user gave the file (lstat: a link is replaced, and its
   * target's bits are not the link's) */
  if (!err && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && fchmod(fd, sb.st_mode & 0777) != 0) err = errno;
  if (!err && fsync(fd) != 0) err = errno;
  if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) {
    unlink(tmp);
    return err;
  }
  *renamed = true;
  return sync_dir(path);
#endif
}

/* Whether pid names no running process. Unsure (no permission to ask): false. */
static bool process_gone(unsigned long pid) {
#if defined(_WIN32)
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  if (h) {
    DWORD code = 0;
    bool gone = GetExitCodeProcess(h, &code) && code != STILL_ACTIVE;
    CloseHandle(h);
    return gone;
  }
  return GetLastError() == ERROR_INVALID_PARAMETER;
#else
  if (pid == 0 || pid > (unsigned long)INT_MAX) return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
#endif
}

/* The pid in a temporary's name, 0 when the name is not one of ours. */
static unsigned long tmp_pid(const char *name) {
  size_t n = strlen(CLT__TMP_PREFIX);
  if (strncmp(name, CLT__TMP_PREFIX, n) != 0) return 0;
  unsigned long pid = 0;
  const char *p = name + n;
  for (; *p >= '0' && *p <= '9' && pid < 1000000000ul; p++) pid = pid * 10 + (unsigned long)(*p - '0');
  return *p == '-' && pid != clt__process_id() ? pid : 0;
}

/* Whether dir was scanned in the last minute: saving many files into one directory (a .npy
 * directory of a large model) scans it once, not once per file (a scan of 10,000 names took
 * 2.6 ms here). One directory is remembered; two threads racing only scan once more or less. */
static bool scanned_lately(const char *dir) {
  static atomic_ullong last_dir;
  static atomic_llong last_time;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char *p = dir; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
  long long now = (long long)time(NULL);
  if (atomic_load(&last_dir) == h && now - atomic_load(&last_time) < 60) return true;
  atomic_store(&last_dir, h);
  atomic_store(&last_time, now);
  return false;
}

void clt__tmp_clean_stale(const char *path) {
  char dir[4096], full[4096];
  size_t n = dir_len(path);
  if (n >= sizeof dir) return;
  snprintf(dir, sizeof dir, "%.*s", (int)n, path);
  if (scanned_lately(dir)) return;
#if defined(_WIN32)
  char pattern[4096], name[4 * MAX_PATH];
  wchar_t wpattern[WPATH_MAX];
  snprintf(pattern, sizeof pattern, "%s%s*", n ? dir : ".\\", CLT__TMP_PREFIX);
  WIN32_FIND_DATAW fd;
  HANDLE h = wide_of(pattern, wpattern) ? FindFirstFileW(wpattern, &fd) : INVALID_HANDLE_VALUE;
  if (h == INVALID_HANDLE_VALUE) return;
  FILETIME now;
  GetSystemTimeAsFileTime(&now);
  uint64_t now_t = (uint64_t)now.dwHighDateTime << 32 | now.dwLowDateTime;
  do {
    uint64_t t = (uint64_t)fd.ftLastWriteTime.dwHighDateTime << 32 | fd.ftLastWriteTime.dwLowDateTime;
    unsigned long pid = utf8_of(fd.cFileName, name, (int)sizeof name) ? tmp_pid(name) : 0;
    if (!pid || (fd.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) ||
        now_t < t + (uint64_t)CLT__TMP_STALE_S * 10000000u || !process_gone(pid))
      continue;
    snprintf(full, sizeof full, "%s%s", dir, name);
    clt__remove(full);
  } while (FindNextFileW(h, &fd));
  FindClose(h);
#else
  DIR *d = opendir(n ? dir : ".");
  if (!d) return;
  time_t now = time(NULL);
  for (struct dirent *e; (e = readdir(d));) {
    unsigned long pid = tmp_pid(e->d_name);
    if (!pid || snprintf(full, sizeof full, "%s%s", dir, e->d_name) >= (int)sizeof full) continue;
    struct stat sb;
    /* only this user's regular files: never another user's, even where root could */
    if (lstat(full, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
        now - sb.st_mtime < CLT__TMP_STALE_S || !process_gone(pid))
      continue;
    unlink(full);
  }
  closedir(d);
#endif
}

/* ---- trusting a directory ----------------------------------------------------------------- */

bool clt__dir_is_private(const char *dir, char *why, size_t cap) {
#if defined(_WIN32)
  (void)dir, (void)why, (void)cap;
  return true;
#else
  char real[PATH_MAX];
  if (!realpath(dir, real)) {
    snprintf(why, cap, "'%s' cannot be resolved: %s", dir, strerror(errno));
    return false;
  }
  uid_t me = geteuid();
  struct stat sb;
  if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    snprintf(why, cap, "'%s' is not a directory", real);
    return false;
  }
  if (sb.st_uid != me) {
    snprintf(why, cap, "'%s' is owned by uid %lu, not by this user (uid %lu)", real, (unsigned long)sb.st_uid,
             (unsigned long)me);
    return false;
  }
  if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
    snprintf(why, cap, "'%s' can be written by other users (mode %03o)", real, (unsigned)(sb.st_mode & 0777));
    return false;
  }
  /* the directories above: whoever can rename entries there can swap this one for their own */
  for (size_t n = strlen(real); n > 1;) {
    while (n > 1 && real[n - 1] != '/') n--;
    if (n > 1) n--; /* drop the separator, except the root's */
    real[n] = '\0';
    if (stat(real, &sb) != 0) {
      snprintf(why, cap, "'%s' cannot be read: %s", real, strerror(errno));
      return false;
    }
    if (sb.st_uid != me && sb.st_uid != 0) {
      snprintf(why, cap, "'%s' above it is owned by uid %lu, neither this user nor root", real,
               (unsigned long)sb.st_uid);
      return false;
    }
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX)) {
      snprintf(why, cap, "'%s' above it can be written by other users (mode %03o)", real,
               (unsigned)(sb.st_mode & 0777));
      return false;
    }
  }
  return true;
#endif
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
