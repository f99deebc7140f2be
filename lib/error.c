/* Status names and the thread-local error record. */
#include <stdio.h>
#include <string.h>

#include "core.h"

#define CLT__ERRBUF 16384 /* room for a kernel build log */

static CLT__TLS clt_status last_status = CLT_OK;
static CLT__TLS char last_msg[CLT__ERRBUF];
static CLT__TLS const char *api_name = "clt";

/* The public enum (clt/common.h) and the list agree. */
#define CLT__STATUS_VALUE(name, value, text) _Static_assert(name == value, #name " in clt/common.h and lib/enums.h");
CLT_STATUS_LIST(CLT__STATUS_VALUE)
#undef CLT__STATUS_VALUE

const char *clt_status_name(clt_status s) {
  switch (s) {
#define CLT__STATUS_NAME(name, value, text) \
  case name:                                \
    return #name;
    CLT_STATUS_LIST(CLT__STATUS_NAME)
#undef CLT__STATUS_NAME
  }
  return "CLT_ERR_UNKNOWN";
}

const char *clt_status_string(clt_status s) {
  switch (s) {
#define CLT__STATUS_TEXT(name, value, text) \
  case name:                                \
    return text;
    CLT_STATUS_LIST(CLT__STATUS_TEXT)
#undef CLT__STATUS_TEXT
  }
  return "unknown status";
}

clt_status clt_last_status(void) { return last_status; }
const char *clt_last_error(void) { return last_msg; }

void clt_clear_error(void) {
  last_status = CLT_OK;
  last_msg[0] = '\0';
}

void clt__err_restore(clt_status st, const char *msg) {
  last_status = st;
  snprintf(last_msg, sizeof last_msg, "%s", st == CLT_OK ? "" : msg);
}

void clt__api(const char *name) { api_name = name; }
const char *clt__api_name(void) { return api_name; }

static void record(clt_status st, const char *fmt, va_list ap) {
  last_status = st;
  int n = snprintf(last_msg, sizeof last_msg, "%s: ", api_name);
  if (n < 0 || (size_t)n >= sizeof last_msg) return;
  vsnprintf(last_msg + n, sizeof last_msg - (size_t)n, fmt, ap);
}

clt_status clt__err(clt_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(st, fmt, ap);
  va_end(ap);
  return st;
}

void clt__err_append(const char *fmt, ...) {
  size_t n = strlen(last_msg);
  if (n + 1 >= sizeof last_msg) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_msg + n, sizeof last_msg - n, fmt, ap);
  va_end(ap);
}

clt_status clt__null_arg(const char *arg) {
  if (last_status == CLT_OK) clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", arg);
  return last_status;
}

const char *clt__shape_str(char *buf, int ndim, const int64_t *shape) {
  size_t n = 0;
  buf[n++] = '[';
  for (int i = 0; i < ndim && i < CLT_MAX_DIMS; i++)
    n += (size_t)snprintf(buf + n, 22, i ? ",%lld" : "%lld", (long long)shape[i]);
  buf[n++] = ']';
  buf[n] = '\0';
  return buf;
}
