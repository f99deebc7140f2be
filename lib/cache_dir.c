/* The directory of the OpenCL backend's program-binary cache: set by the application, else
 * $CLT_CACHE_DIR, else the platform's per-user cache folder (clt__platform_cache_dir). An
 * application whose platform has no such folder for it (an Android app has no HOME; a sandboxed
 * one has its own) names its own with clt_set_cache_dir. */
#include <string.h>

#include "core.h"

static clt__mutex lock = CLT__MUTEX_INIT;
static char chosen[CLT__PATH_MAX]; /* empty: not set */

clt_status clt_set_cache_dir(const char *dir) {
  clt__api("clt_set_cache_dir");
  size_t n = dir ? strlen(dir) : 0;
  if (dir && n == 0) return clt__err(CLT_ERR_INVALID_ARG, "dir is empty (NULL goes back to the default)");
  if (n >= sizeof chosen)
    return clt__err(CLT_ERR_INVALID_ARG, "dir is %zu bytes long; at most %zu", n, sizeof chosen - 1);
  clt__mutex_lock(&lock);
  memcpy(chosen, dir ? dir : "", n + 1);
  clt__mutex_unlock(&lock);
  return CLT_OK;
}

bool clt__cache_dir(char *buf, size_t cap) {
  clt__mutex_lock(&lock);
  int n = chosen[0] ? snprintf(buf, cap, "%s", chosen) : 0;
  clt__mutex_unlock(&lock);
  if (n > 0) return (size_t)n < cap;
  const char *env = clt__getenv("CLT_CACHE_DIR");
  if (env) {
    n = snprintf(buf, cap, "%s", env);
    return n > 0 && (size_t)n < cap;
  }
  return clt__platform_cache_dir("clt", buf, cap);
}

clt_status clt_get_cache_dir(char *buf, size_t cap) {
  clt__api("clt_get_cache_dir");
  if (!buf || cap == 0) return clt__err(CLT_ERR_INVALID_ARG, "buf is NULL or cap is 0");
  char dir[CLT__PATH_MAX];
  buf[0] = '\0';
  if (!clt__cache_dir(dir, sizeof dir))
    return clt__err(CLT_ERR_STATE, "no cache directory: none was set, $CLT_CACHE_DIR is unset, and the platform "
                                   "names no per-user cache folder (no HOME?)");
  size_t n = strlen(dir);
  if (n >= cap) return clt__err(CLT_ERR_INVALID_ARG, "cap is %zu bytes; the directory needs %zu", cap, n + 1);
  memcpy(buf, dir, n + 1);
  return CLT_OK;
}
