/* The one place every backend's driver call (the OpenCL backend's CLT__CL), every dispatch of a
 * backend entry (dispatch.c) and every host allocation passes through, so that a test can make
 * the Nth of them fail; and the live-object counters leak tests read. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

atomic_long clt__live[CLT__LIVE_COUNT];

static CLT__TLS long fault_count; /* points passed since reset */
static CLT__TLS long fault_at;    /* fail when fault_count reaches this (0: disarmed) */
static CLT__TLS int fault_code; /* 0: the failing point's own default */
static CLT__TLS bool fault_fired;
static CLT__TLS const char *fault_region, *fired_call, *fired_region;

bool clt__fault_hit_call(const char *call) {
  fault_count++;
  if (fault_at != 0 && fault_count == fault_at) {
    fault_fired = true;
    fired_call = call;
    fired_region = fault_region;
    return true;
  }
  return false;
}

bool clt__fault_hit(void) { return clt__fault_hit_call(NULL); }

const char *clt__fault_region(const char *label) {
  const char *old = fault_region;
  fault_region = label;
  return old;
}

int clt__fault_code(int default_code) { return fault_code ? fault_code : default_code; }

void clt__fault_reset(void) {
  fault_count = 0;
  fault_at = 0;
  fault_fired = false;
  fired_call = fired_region = NULL;
  fault_code = 0;
}

void clt__fault_arm(long nth, int code) {
  fault_at = nth > 0 ? fault_count + nth : 0;
  fault_code = code;
  fault_fired = false;
  fired_call = fired_region = NULL;
}

long clt__fault_count(void) { return fault_count; }
bool clt__fault_fired(void) { return fault_fired; }
bool clt__fault_armed(void) { return fault_at != 0; }
const char *clt__fault_fired_call(void) { return fired_call; }
const char *clt__fault_fired_region(void) { return fired_region; }

void *clt__malloc(size_t n) {
  if (clt__fault_hit()) return NULL;
  return malloc(n ? n : 1);
}

void *clt__calloc(size_t n, size_t size) {
  if (clt__fault_hit()) return NULL;
  return calloc(n ? n : 1, size ? size : 1);
}

void *clt__realloc(void *p, size_t n) {
  if (clt__fault_hit()) return NULL;
  return realloc(p, n ? n : 1);
}

void clt__free_mem(void *p) { free(p); }

char *clt__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = clt__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void clt_free(void *p) { free(p); }
