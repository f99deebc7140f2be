/* The few operating-system calls clt's tools make, on POSIX systems and on Windows (mingw-w64 and
 * MSVC). The library's own platform layer (lib/platform.c) is internal to it; the tools link only
 * the public library, so they carry this small header-only one. */
#ifndef CLT_TOOL_PLATFORM_H
#define CLT_TOOL_PLATFORM_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(_WIN32)
#include <direct.h>
#include <io.h>
#include <process.h>
#include <windows.h>
#else
#include <sys/stat.h>
#include <unistd.h>
#endif

/* printf-like functions: checked by GCC and clang; gnu_printf under mingw-w64, whose "printf"
 * means Microsoft's format (the tools use %zu and %lld). */
#if defined(__MINGW32__)
#define TOOL_PRINTF(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#elif defined(__GNUC__)
#define TOOL_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define TOOL_PRINTF(fmt, first)
#endif

#if defined(_MSC_VER)
#define popen _popen
#define pclose _pclose
#endif

/* Seconds on a monotonic clock. */
static inline double tool_now(void) {
#if defined(_WIN32)
  LARGE_INTEGER f, c;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (double)c.QuadPart / (double)f.QuadPart;
#else
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
#endif
}

/* Sets name to value in this process's environment (inherited by children); NULL unsets it. */
static inline int tool_setenv(const char *name, const char *value) {
#if defined(_WIN32)
  return _putenv_s(name, value ? value : "");
#else
  return value ? setenv(name, value, 1) : unsetenv(name);
#endif
}

static inline bool tool_isatty(FILE *f) {
#if defined(_WIN32)
  return _isatty(_fileno(f)) != 0;
#else
  return isatty(fileno(f)) != 0;
#endif
}

/* Makes a new private directory "<temp>/<prefix>-XXXXXX" and puts its path in buf. */
static inline bool tool_mkdtemp(const char *prefix, char *buf, size_t cap) {
#if defined(_WIN32)
  char tmp[MAX_PATH + 1];
  DWORD n = GetTempPathA(sizeof tmp, tmp);
  if (n == 0 || n > MAX_PATH) return false;
  for (int attempt = 0; attempt < 100; attempt++) {
    int len = snprintf(buf, cap, "%s%s-%lu-%d", tmp, prefix, (unsigned long)_getpid(), attempt);
    if (len <= 0 || (size_t)len >= cap) return false;
    if (_mkdir(buf) == 0) return true;
  }
  return false;
#else
  const char *tmp = getenv("TMPDIR");
  int len = snprintf(buf, cap, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
  return len > 0 && (size_t)len < cap && mkdtemp(buf) != NULL;
#endif
}

/* Removes a directory tree the tool made (tool_mkdtemp's). */
static inline bool tool_rmtree(const char *dir) {
  char cmd[1200];
#if defined(_WIN32)
  int len = snprintf(cmd, sizeof cmd, "rmdir /s /q \"%s\"", dir);
#else
  int len = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
#endif
  return len > 0 && (size_t)len < sizeof cmd && system(cmd) == 0;
}

/* The quote a command line for popen and system puts around an argument. */
#if defined(_WIN32)
#define TOOL_QUOTE "\""
#define TOOL_NULL_DEVICE "nul"
#else
#define TOOL_QUOTE "'"
#define TOOL_NULL_DEVICE "/dev/null"
#endif

#endif
