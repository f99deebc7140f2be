/* The thread rules (include/clt/device.h): a device handle may be used by several threads at
 * once, and threads with handles of their own run concurrently too; errors, grad mode, scopes
 * and the random generator are per thread. Threads training at once, on their own handles or on
 * one shared handle, must get bit for bit what each gets alone; one thread's error and no-grad
 * state must not be seen by another. tools/tsan.sh runs this suite under ThreadSanitizer. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

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

/* ---- one handle, several threads ------------------------------------------------------ */

#define SHARERS 4

typedef struct {
  clt_device *dev;    /* shared by every thread */
  clt_tensor *x;      /* read by every thread at once */
  const char *dir;    /* where this job saves */
  int id;
  uint64_t digest;    /* of everything the job computed, bit for bit */
  double loss;
  clt_status st;
  char err[256];
} share_job;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* Folds t's shape, dtype and bytes into *h; false (the error recorded) when t is NULL or cannot be read. */
static bool fold(uint64_t *h, const clt_tensor *t) {
  if (!t) return false;
  size_t n = (size_t)clt_numel(t) * clt_dtype_size(clt_dtype_of(t));
  unsigned char *buf = malloc(n ? n : 1);
  bool ok = buf && clt_to_host(t, buf, n) == CLT_OK;
  if (ok) {
    int dt = (int)clt_dtype_of(t);
    *h = fnv(*h, &dt, sizeof dt);
    *h = fnv(*h, clt_shape(t), (size_t)clt_ndim(t) * sizeof(int64_t));
    *h = fnv(*h, buf, n);
  }
  free(buf);
  return ok;
}

/* Trains a 16-32-4 MLP with Adam for 20 steps (seeded by the job's id), runs reductions, a
 * matmul, softmax, casts and indexing on the shared x, and saves and reloads its parameters
 * (safetensors and .npy), all on the shared device. */
static void *share_work(void *arg) {
  share_job *j = arg;
  clt_device *dev = j->dev;
  clt_optim *opt = NULL;
  uint64_t h = 0xcbf29ce484222325ULL;
  clt_scope_begin();
  clt_manual_seed(100 + (uint64_t)j->id);
  clt_tensor *x = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(64, 16));
  clt_tensor *y = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(64)), 3.999), CLT_INT64);
  clt_tensor *w1 = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(32, 16)), *b1 = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(32));
  clt_tensor *w2 = clt_randn(dev, CLT_FLOAT32, CLT_SHAPE(4, 32)), *b2 = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(4));
  clt_tensor *params[4] = {w1, b1, w2, b2};
  const char *names[4] = {"w1", "b1", "w2", "b2"};
  for (int i = 0; i < 4; i++)
    if (!params[i] || clt_set_requires_grad(params[i], true) != CLT_OK) goto fail;
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_ADAM);
  cfg.lr = 1e-2;
  if (!x || !y || clt_optim_create(&cfg, 4, params, &opt) != CLT_OK) goto fail;
  for (int step = 0; step < 20; step++) {
    clt_scope_begin();
    clt_tensor *loss =
        clt_cross_entropy(clt_linear(clt_relu(clt_linear(x, w1, b1)), w2, b2), y, CLT_REDUCTION_MEAN);
    bool ok = loss && clt_optim_zero_grad(opt) == CLT_OK && clt_backward(loss, NULL) == CLT_OK &&
              clt_optim_step(opt) == CLT_OK && clt_item(loss, &j->loss) == CLT_OK;
    clt_scope_end();
    if (!ok) goto fail;
  }
  for (int i = 0; i < 4; i++)
    if (!fold(&h, params[i])) goto fail;
  clt_tensor *sx = j->x, *idx = clt_cast(clt_mul_scalar(clt_rand(dev, CLT_FLOAT32, CLT_SHAPE(8)), 15.999), CLT_INT64);
  clt_tensor *parts[2] = {sx, clt_mul_scalar(sx, (double)j->id)};
  clt_tensor *results[] = {
      clt_sum(sx, CLT_DIMS(0), false), clt_sum(sx, CLT_ALL_DIMS, false), clt_max(sx, CLT_DIMS(1), true),
      clt_var(sx, CLT_DIMS(1), 1, false), clt_matmul(sx, clt_transpose(sx, 0, 1)), clt_softmax(sx, 1),
      clt_exp(clt_add_scalar(sx, j->id)), clt_cast(sx, CLT_FLOAT64), clt_index_select(sx, 1, idx),
      clt_cat(2, parts, 0), clt_argmax(sx, CLT_DIMS(1), false), clt_contiguous(clt_transpose(sx, 0, 1))};
  for (size_t i = 0; i < sizeof results / sizeof *results; i++)
    if (!fold(&h, results[i])) goto fail;
  char st_path[512], npy_path[512];
  snprintf(st_path, sizeof st_path, "%s/job%d.safetensors", j->dir, j->id);
  snprintf(npy_path, sizeof npy_path, "%s/job%d.npy", j->dir, j->id);
  clt_tensor_list *back = NULL;
  clt_tensor *w1_back = NULL;
  if (clt_save_safetensors(st_path, 4, names, params) != CLT_OK || clt_save_npy(npy_path, w1) != CLT_OK ||
      clt_load_safetensors(st_path, dev, &back) != CLT_OK || clt_load_npy(npy_path, dev, &w1_back) != CLT_OK)
    goto fail;
  uint64_t saved = 0, loaded = 0;
  bool same = clt_tensor_list_size(back) == 4 && fold(&loaded, w1_back) && fold(&saved, w1);
  for (int i = 0; same && i < 4; i++) {
    uint64_t a = 0, b = 0;
    same = fold(&a, params[i]) && fold(&b, clt_tensor_list_find(back, names[i])) && a == b;
  }
  clt_tensor_list_release(back);
  clt_release(w1_back);
  if (!same || saved != loaded) {
    j->st = CLT_ERR_STATE;
    snprintf(j->err, sizeof j->err, "job %d: the parameters read back differ from those saved", j->id);
    goto done;
  }
  j->digest = h;
  j->st = CLT_OK;
  goto done;
fail:
  j->st = clt_last_status() != CLT_OK ? clt_last_status() : CLT_ERR_STATE;
  snprintf(j->err, sizeof j->err, "job %d: %s", j->id, clt_last_error());
done:
  clt_optim_release(opt);
  clt_scope_end();
  return NULL;
}

/* SHARERS threads on one handle at once against each job run alone. The handle is opened fresh
 * for the threads, so they also build kernels and fill the pool at the same time; afterwards it
 * holds no bytes in use (a lost update in the pool's or the host's counters shows there). */
START_TEST(threads_share_one_device) {
  char dir[] = "/tmp/clt-threads-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  clt_scope_begin();
  clt_manual_seed(7);
  clt_tensor *x = clt_randn(TU_DEV, CLT_FLOAT32, CLT_SHAPE(16, 16));
  ck_assert_ptr_nonnull(x);
  share_job alone[SHARERS];
  for (int k = 0; k < SHARERS; k++) {
    alone[k] = (share_job){.dev = TU_DEV, .x = x, .dir = dir, .id = k};
    share_work(&alone[k]);
    ck_assert_msg(alone[k].st == CLT_OK, "alone: %s", alone[k].err);
  }
  ck_assert(alone[0].digest != alone[1].digest);
  for (int round = 0; round < 2; round++) {
    clt_device *shared = NULL;
    ck_assert_int_eq(clt_device_open(clt_device_spec(TU_DEV), &shared), CLT_OK);
    clt_tensor *sx = clt_to(x, shared);
    ck_assert_ptr_nonnull(sx);
    share_job both[SHARERS];
    pthread_t th[SHARERS];
    for (int k = 0; k < SHARERS; k++) {
      both[k] = (share_job){.dev = shared, .x = sx, .dir = dir, .id = k};
      ck_assert_int_eq(pthread_create(&th[k], NULL, share_work, &both[k]), 0);
    }
    for (int k = 0; k < SHARERS; k++) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < SHARERS; k++) {
      ck_assert_msg(both[k].st == CLT_OK, "thread %d: %s", k, both[k].err);
      ck_assert_msg(both[k].digest == alone[k].digest && both[k].loss == alone[k].loss,
                    "thread %d: loss %.9g, alone %.9g; results %s", k, both[k].loss, alone[k].loss,
                    both[k].digest == alone[k].digest ? "equal" : "differ");
    }
    clt_release(sx);
    clt_memory_stats ms;
    ck_assert_int_eq(clt_device_get_memory_stats(shared, &ms), CLT_OK);
    ck_assert_msg(ms.bytes_in_use == 0, "%llu bytes in use with no tensor left", (unsigned long long)ms.bytes_in_use);
    ck_assert_uint_ge(ms.peak_bytes_in_use, 4 * 64 * 16 * sizeof(float));
    clt_device_release(shared);
  }
  clt_scope_end();
  for (int k = 0; k < SHARERS; k++) {
    char path[512];
    snprintf(path, sizeof path, "%s/job%d.safetensors", dir, k);
    remove(path);
    snprintf(path, sizeof path, "%s/job%d.npy", dir, k);
    remove(path);
  }
  ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Products of one shared tensor from several threads at once: on PoCL the host's GEMM maps the
 * same buffer from every thread, and PoCL 3.1 crashed (pocl_driver_map_mem) or refused an unmap
 * (CL_INVALID_VALUE) in 7 of 8 runs of this before clt serialised the maps. */
typedef struct {
  clt_tensor *x;
  uint64_t want;
  int bad;
  char err[256];
} product_job;

static void *products(void *arg) {
  product_job *j = arg;
  for (int i = 0; i < 200 && !j->bad; i++) {
    clt_scope_begin();
    uint64_t h = 0;
    if (!fold(&h, clt_matmul(j->x, clt_transpose(j->x, 0, 1))) || h != j->want) {
      j->bad = i + 1;
      snprintf(j->err, sizeof j->err, "product %d: %s", i, h ? "differs" : clt_last_error());
    }
    clt_scope_end();
  }
  return NULL;
}

START_TEST(threads_multiply_one_shared_tensor) {
  clt_scope_begin();
  clt_manual_seed(3);
  clt_tensor *x = clt_randn(TU_DEV, CLT_FLOAT32, CLT_SHAPE(16, 16));
  uint64_t want = 0;
  ck_assert(fold(&want, clt_matmul(x, clt_transpose(x, 0, 1))));
  product_job jobs[SHARERS];
  pthread_t th[SHARERS];
  for (int k = 0; k < SHARERS; k++) {
    jobs[k] = (product_job){.x = x, .want = want};
    ck_assert_int_eq(pthread_create(&th[k], NULL, products, &jobs[k]), 0);
  }
  for (int k = 0; k < SHARERS; k++) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
  for (int k = 0; k < SHARERS; k++) ck_assert_msg(!jobs[k].bad, "thread %d: %s", k, jobs[k].err);
  clt_scope_end();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tu_tcase("threads");
  TU_DEVICES(tc, two_threads_train_at_once);
  TU_DEVICES(tc, errors_grad_mode_and_scopes_are_per_thread);
  TU_DEVICES(tc, threads_share_one_device);
  TU_DEVICES(tc, threads_multiply_one_shared_tensor);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_main(suite, TU_MANY_KERNELS); }
