/* Shared test helpers: the devices every suite runs on, leak checks, running a suite. */
#ifndef CLT_TU_H
#define CLT_TU_H

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clt.h"
#include "core.h"

/* Devices under test: [0] is the host, [1] the OpenCL device when there is one. */
#define TU_MAX_DEV 2
extern clt_device *tu_dev[TU_MAX_DEV];
extern int tu_ndev;

/* Opens the devices. Without an OpenCL device: returns false when $CLT_REQUIRE_DEVICE=1 (the
 * run must fail), else true with tu_ndev = 1. */
bool tu_open_devices(bool host_only);
void tu_close_devices(void);
/* The OpenCL device under test, or NULL. */
clt_device *tu_cl(void);

/* The name of live counter k (CLT__LIVE_*), for messages. */
const char *tu_live_name(int k);
/* Checked fixture: records live objects at the start of each test, compares at its end. */
void tu_leak_setup(void);
void tu_leak_teardown(void);
/* Adds a test case with the leak fixture and a generous timeout. */
TCase *tu_tcase(const char *name);

/* How many distinct kernels a suite launches. Under valgrind ($CLT_TEST_VALGRIND=1) PoCL must
 * compile every kernel again for the CPU valgrind emulates (no AVX-512), about 5 s each, so
 * suites with many kernels run on the host alone there; ASan runs them all on PoCL. */
typedef enum { TU_FEW_KERNELS, TU_MANY_KERNELS } tu_kernels;

/* Runs the suite in this process (CK_FORK=no: OpenCL state does not survive fork). Returns the
 * process exit status: 0 pass, 1 fail. */
int tu_main(Suite *(*make_suite)(void), tu_kernels kernels);

/* Loop test over every device under test: the body sees clt_device *dev. $CLT_TEST_ONLY (a
 * comma-separated list of substrings) keeps only the tests whose names contain one of them. */
#define TU_DEVICES(tc, fn) tu_add_devices((tc), (fn), #fn)
void tu_add_devices(TCase *tc, const TTest *fn, const char *name);
/* Whether $CLT_TEST_ONLY selects the test called name (true when unset). */
bool tu_selected(const char *name);
/* The step of a sweep over float bit patterns, times $CLT_TEST_SWEEP_SCALE (default 1): the
 * Oclgrind run, which checks memory accesses rather than rounding, sets it so that the exp, tanh
 * and gelu sweeps (millions of work-items, interpreted) take seconds instead of minutes. */
int64_t tu_sweep_step(int64_t step);
#define TU_DEV (tu_dev[_i])
/* A test that holds a device to the host reference: on every device but the host, where it
 * would compare the host with itself (under valgrind, suites with many kernels run on the host
 * alone: tu_main then says which tests did not run). */
#define TU_VS_HOST(tc, fn) tu_add_vs_host((tc), (fn), #fn)
void tu_add_vs_host(TCase *tc, const TTest *fn, const char *name);

/* Asserts the last call failed with status st and a message containing each given text. */
#define TU_ASSERT_ERR(st, ...) tu_assert_err_((st), __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)
void tu_assert_err_(clt_status st, const char *file, int line, ...);

/* After a call that failed with st through an armed fault that fired (read before
 * clt__fault_reset): NULL when the error names what failed (the OpenCL call, by its name as the
 * fault point's text begins; for a host allocation, CLT_ERR_OOM), else what is wrong with it. */
const char *tu_fault_unnamed(clt_status st);

/* Whether $CLT_REQUIRE_DEVICE=1 (CI): a test that cannot run here must fail, not skip. */
bool tu_required(void);
/* Returns from a test that cannot run here, saying why; fails it under $CLT_REQUIRE_DEVICE=1. */
#define TU_SKIP(...)               \
  do {                             \
    tu_skip_(__VA_ARGS__);         \
    return;                        \
  } while (0)
void tu_skip_(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Host copies of a tensor's elements as doubles (caller frees). */
double *tu_values(const clt_tensor *t);
/* clt_backward(l, NULL) on l's device, counting the copies its backend's copy entry makes
 * (strided copies and contiguous ones): *copies gets the count. */
clt_status tu_backward_counting_copies(clt_tensor *l, int *copies);
/* Asserts t has the given shape and values (as doubles, exact). */
void tu_assert_values(const clt_tensor *t, int ndim, const int64_t *shape, const double *want);

/* A fault sweep: workload(dev, &result) runs clean three times (a device is warm after two:
 * elementwise chains fuse from their second run; the third run counts the fault points), then fails at each point in turn: it must return an error (not CLT_OK, not
 * CLT_ERR_STATE), the fault must fire, nothing may stay alive, and the next clean run must give
 * the clean result to rel_tol. At least min_points points. */
typedef clt_status (*tu_workload)(clt_device *dev, double *result);
void tu_fault_sweep(clt_device *dev, tu_workload workload, double rel_tol, long min_points);

/* The product of n sizes. */
int64_t tu_prod(int n, const int64_t *s);
/* A tensor of shape holding v (row-major), of dtype dt; strided: a transposed view of a tensor
 * with the last two dims swapped, so that its strides are not row-major. */
clt_tensor *tu_make(clt_device *dev, clt_dtype dt, int nd, const int64_t *shape, const double *v, bool strided);
/* got has shape and its values are want's within tol * (1 + |want|) (NaN matching NaN); the
 * messages name what, name and dev. */
void tu_check_close(clt_tensor *got, int nd, const int64_t *shape, const double *want, double tol, const char *what,
                    const char *name, clt_device *dev);

#endif
