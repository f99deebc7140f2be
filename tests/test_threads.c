/* The thread rule (README, include/clt/device.h): a device handle is used by one thread at a
 * time; threads with handles of their own run concurrently; errors, grad mode, scopes and the
 * random generator are per thread. Two threads each open a device and train at once, and must
 * get bit for bit what each gets alone; and one thread's error and no-grad state must not be
 * seen by the other. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "tu.h"

typedef struct {
  const char *spec;
  uint64_t seed;
  double loss;
  clt_status st;
  char err[256];
} job;

/* 30 steps of a 16-32-4 MLP with Adam on this thread's own handle; the final loss in j->loss. */
static void *train(void *arg) {
  job *j = arg;
  clt_device *dev = NULL;
  clt_optim *opt = NULL;
  j->st = clt_device_open(j->spec, &dev);
  if (j->st != CLT_OK) goto out;
  clt_scope_begin();
  clt_manual_seed(j->seed);
  clt_tensor *x = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(64, 16));
  clt_tensor *y = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(64)), 3.999), CLT_INT64);
  clt_tensor *w1 = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(32, 16)), *b1 = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(32));
  clt_tensor *w2 = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(4, 32)), *b2 = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_tensor *params[4] = {w1, b1, w2, b2};
  for (int i = 0; i < 4; i++)
    if (!params[i] || clt_set_requires_grad(params[i], true) != CLT_OK) goto fail;
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  cfg.lr = 1e-2;
  if (!x || !y || clt_optim_create(&cfg, 4, params, &opt) != CLT_OK) goto fail;
  for (int step = 0; step < 30; step++) {
    clt_scope_begin();
    clt_tensor *loss =
        clt_cross_entropy(clt_linear(clt_relu(clt_linear(x, w1, b1)), w2, b2), y, CLT_REDUCTION_MEAN);
    if (!loss || clt_optim_zero_grad(opt) != CLT_OK || clt_backward(loss, NULL) != CLT_OK ||
        clt_optim_step(opt) != CLT_OK || clt_item(loss, &j->loss) != CLT_OK) {
      clt_scope_end();
      goto fail;
    }
    clt_scope_end();
  }
  goto done;
fail:
  j->st = clt_last_status() != CLT_OK ? clt_last_status() : CLT_ERR_STATE;
done:
  snprintf(j->err, sizeof j->err, "%s", clt_last_error());
  clt_optim_release(opt);
  clt_scope_end();
out:
  clt_device_release(dev);
  return NULL;
}

START_TEST(two_threads_train_at_once) {
  const char *spec = clt_device_spec(TU_DEV);
  job alone[2] = {{spec, 11, 0, CLT_OK, ""}, {spec, 12, 0, CLT_OK, ""}};
  for (int k = 0; k < 2; k++) {
    train(&alone[k]);
    ck_assert_msg(alone[k].st == CLT_OK, "alone: %s", alone[k].err);
  }
  ck_assert(alone[0].loss != alone[1].loss);
  for (int round = 0; round < 3; round++) {
    job both[2] = {{spec, 11, 0, CLT_OK, ""}, {spec, 12, 0, CLT_OK, ""}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++) ck_assert_int_eq(pthread_create(&th[k], NULL, train, &both[k]), 0);
    for (int k = 0; k < 2; k++) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < 2; k++) {
      ck_assert_msg(both[k].st == CLT_OK, "thread %d: %s", k, both[k].err);
      ck_assert_msg(both[k].loss == alone[k].loss, "thread %d: loss %.9g, alone %.9g", k, both[k].loss, alone[k].loss);
    }
  }
}
END_TEST

typedef struct {
  const char *spec; /* each thread opens its own handle: the rule */
  pthread_barrier_t *bar;
  bool no_grad, make_error;
  bool recorded;          /* an op on a requires-grad input recorded a graph */
  clt_status seen_status; /* this thread's last status after the other one failed */
  int scopes;             /* scopes open on this thread after the other opened two */
} state_job;

static void *state_thread(void *arg) {
  state_job *s = arg;
  clt_device *dev = NULL;
  ck_assert_int_eq(clt_device_open(s->spec, &dev), CLT_OK);
  if (s->no_grad) clt_no_grad_begin();
  else {
    clt_scope_begin();
    clt_scope_begin();
  }
  pthread_barrier_wait(s->bar); /* both set up */
  if (s->make_error) ck_assert_ptr_null(clt_reshape(NULL, CLT_SHAPE(2)));
  pthread_barrier_wait(s->bar); /* the error happened */
  s->seen_status = clt_last_status();
  s->scopes = clt_scope_depth();
  clt_tensor *w = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3));
  clt_set_requires_grad(w, true);
  clt_tensor *y = clt_mul_scalar(w, 2);
  s->recorded = clt_requires_grad(y);
  clt_release(y);
  clt_release(w);
  pthread_barrier_wait(s->bar);
  if (s->no_grad) clt_no_grad_end();
  else {
    clt_scope_end();
    clt_scope_end();
  }
  clt_device_release(dev);
  return NULL;
}

START_TEST(errors_grad_mode_and_scopes_are_per_thread) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  clt_clear_error();
  const char *spec = clt_device_spec(TU_DEV);
  state_job a = {spec, &bar, true, true, false, CLT_OK, 0}, b = {spec, &bar, false, false, false, CLT_OK, 0};
  pthread_t ta, tb;
  ck_assert_int_eq(pthread_create(&ta, NULL, state_thread, &a), 0);
  ck_assert_int_eq(pthread_create(&tb, NULL, state_thread, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_barrier_destroy(&bar);
  ck_assert_int_eq(a.seen_status, CLT_ERR_INVALID_ARG); /* its own error */
  ck_assert_int_eq(b.seen_status, CLT_OK);              /* not the other thread's */
  ck_assert(!a.recorded);                               /* no-grad on a */
  ck_assert(b.recorded);                                /* does not reach b */
  ck_assert_int_eq(a.scopes, 0);
  ck_assert_int_eq(b.scopes, 2);
  ck_assert_int_eq(clt_last_status(), CLT_OK); /* nor the main thread */
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tu_tcase("threads");
  TU_DEVICES(tc, two_threads_train_at_once);
  TU_DEVICES(tc, errors_grad_mode_and_scopes_are_per_thread);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
