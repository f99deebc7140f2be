/* Leaks a user can see: every tensor a clt function returned is listed, with the call that made
 * it, until its last reference goes. clt_leak_report names those still alive; $CLT_LEAK_CHECK=1
 * does it at exit, and when a device's last handle is released while tensors keep it open. The
 * list is process-wide under one lock, taken once per returned tensor and once per listed
 * tensor's end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static clt__mutex lock = CLT__MUTEX_INIT;
static clt_tensor *first, *last; /* oldest first */

void clt__leak_list(clt_tensor *t) {
  clt__mutex_lock(&lock);
  if (!t->listed) { /* a tensor returned again (clt_to onto its own device) is listed once */
    t->listed = true;
    t->list_prev = last;
    t->list_next = NULL;
    if (last) last->list_next = t;
    else first = t;
    last = t;
  }
  clt__mutex_unlock(&lock);
}

/* Called by the thread dropping the last reference: whoever listed t held a reference then, and
 * the reference count orders that before this read. */
void clt__leak_unlist(clt_tensor *t) {
  if (!t->listed) return;
  clt__mutex_lock(&lock);
  if (t->list_prev) t->list_prev->list_next = t->list_next;
  else first = t->list_next;
  if (t->list_next) t->list_next->list_prev = t->list_prev;
  else last = t->list_prev;
  t->listed = false;
  clt__mutex_unlock(&lock);
}

/* Writes the listed tensors (those on dev, or all for NULL) to f (may be NULL); returns how
 * many there are. The caller holds the lock. */
static int64_t report_locked(FILE *f, const clt_device *dev) {
  int64_t n = 0;
  for (const clt_tensor *t = first; t; t = t->list_next) {
    if (dev && t->st->dev != dev) continue;
    n++;
    if (!f) continue;
    char sh[CLT__SHAPE_STR];
    fprintf(f, "  %s %s on %s, made by %s%s\n", clt_dtype_name(t->dtype), clt__shape_str(sh, t->ndim, t->shape),
            t->st->dev->info.spec, t->made_by, t->requires_grad ? " (requires grad)" : "");
  }
  return n;
}

int64_t clt_leak_report(FILE *f) {
  clt__mutex_lock(&lock);
  int64_t n = report_locked(NULL, NULL);
  if (f && n > 0) {
    fprintf(f, "clt: %lld tensor%s still alive:\n", (long long)n, n == 1 ? " is" : "s are");
    report_locked(f, NULL);
  }
  clt__mutex_unlock(&lock);
  return n;
}

static bool leak_check_on(void) {
  const char *v = clt__getenv("CLT_LEAK_CHECK");
  return v && strcmp(v, "0") != 0;
}

static void report_at_exit(void) {
  clt__mutex_lock(&lock);
  int64_t n = report_locked(NULL, NULL);
  if (n > 0) {
    fprintf(stderr, "clt: $CLT_LEAK_CHECK: %lld tensor%s never released:\n", (long long)n, n == 1 ? " was" : "s were");
    report_locked(stderr, NULL);
  }
  clt__mutex_unlock(&lock);
}

void clt__leak_check_arm(void) {
  static atomic_bool armed;
  if (leak_check_on() && !atomic_exchange(&armed, true)) atexit(report_at_exit);
}

void clt__leak_device_released(const clt_device *dev) {
  if (!leak_check_on()) return;
  clt__mutex_lock(&lock);
  int64_t n = report_locked(NULL, dev);
  if (n > 0) {
    fprintf(stderr, "clt: $CLT_LEAK_CHECK: %s's last handle released while %lld tensor%s it returned keep%s it open:\n",
            dev->info.spec, (long long)n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    report_locked(stderr, dev);
  }
  clt__mutex_unlock(&lock);
}
