/* Training on several processes (clt/dist.h). In a build with MPI this runs under mpirun
 * (tests/meson.build: -np 2 and -np 4; any size works, 1 included): the communicator, every
 * collective on every dtype and device, the timeout, data-parallel gradients against one
 * process's, the parameters' broadcast, empty shares, and a fault sweep. In every build: the
 * autograd engine's leaf hook, the backends' map and unmap, the sampler, the optimizer's state
 * for checkpoints; without MPI, that every communicating function refuses. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdio.h>

#include "autograd_impl.h"
#include "backend.h"
#include "clt/dist.h"
#include "tu.h"
#ifdef CLT_HAVE_MPI
#include "clt/dist_mpi.h"
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the leaf hook (lib/autograd.c) ------------------------------------------------------ */

typedef struct {
  int calls;
  clt_tensor *leaf[8];
  double first[8]; /* the gradient's first element when the hook ran */
  int fail_at;     /* 1-based call that fails, 0 none */
} hook_log;

static clt_status record_leaf(void *user, clt_tensor *leaf) {
  hook_log *h = user;
  ck_assert_int_lt(h->calls, 8);
  h->leaf[h->calls] = leaf;
  double *v = leaf->grad ? tu_values(leaf->grad) : NULL;
  h->first[h->calls] = v ? v[0] : NAN;
  free(v);
  if (++h->calls == h->fail_at) return clt__err(CLT_ERR_BACKEND, "the hook failed on purpose");
  return CLT_OK;
}

/* loss = sum(w * x) + sum(w * w) + sum(relu(w) * v), v also used twice: each leaf's hook runs
 * once, after every edge into it delivered, so it sees the final gradient. x requires no grad. */
START_TEST(leaf_hook_runs_once_per_leaf_with_the_final_gradient) {
  clt_device *dev = TU_DEV;
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){1, -2, 3});
  clt_tensor *v = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){0.5, 4, -1});
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(3), (const double[]){2, 2, 2});
  clt_set_requires_grad(w, true);
  clt_set_requires_grad(v, true);
  for (int fail_at = 0; fail_at <= 2; fail_at++) {
    clt_scope_begin();
    clt_zero_grad(w);
    clt_zero_grad(v);
    clt_tensor *loss = clt_add(clt_add(clt_sum(clt_mul(w, x), CLT_ALL_DIMS, false), clt_sum(clt_mul(w, w), CLT_ALL_DIMS, false)),
                               clt_sum(clt_mul(clt_relu(w), clt_mul(v, v)), CLT_ALL_DIMS, false));
    ck_assert_ptr_nonnull(loss);
    hook_log h = {.fail_at = fail_at};
    clt_status s = clt__backward_hooked(loss, NULL, false, record_leaf, &h);
    if (fail_at) {
      ck_assert_int_eq(s, CLT_ERR_BACKEND);
      ck_assert_int_eq(h.calls, fail_at); /* the failure stopped the backward */
      TU_ASSERT_ERR(CLT_ERR_BACKEND, "the hook failed on purpose");
    } else {
      ck_assert_int_eq(s, CLT_OK);
      ck_assert_int_eq(h.calls, 2);
      /* d/dw = x + 2w + relu'(w) v^2 = [2 + 2 + 0.25, 2 - 4, 2 + 6 + 1]; d/dv = 2 relu(w) v */
      double want_w0 = 4.25, want_v0 = 1.0;
      for (int i = 0; i < 2; i++) {
        ck_assert_msg(h.leaf[i] == w || h.leaf[i] == v, "the hook saw a tensor that is no leaf of the graph");
        ck_assert_double_eq(h.first[i], h.leaf[i] == w ? want_w0 : want_v0);
      }
      ck_assert_ptr_ne(h.leaf[0], h.leaf[1]);
    }
    clt_scope_end();
  }
  /* a leaf as the root: its hook once */
  clt_tensor *s = clt_from_host(dev, CLT_FLOAT64, 0, NULL, (const double[]){3});
  clt_set_requires_grad(s, true);
  hook_log h = {0};
  ck_assert_int_eq(clt__backward_hooked(s, NULL, false, record_leaf, &h), CLT_OK);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_ptr_eq(h.leaf[0], s);
  ck_assert_double_eq(h.first[0], 1.0);
  clt_release(s);
  clt_release(w);
  clt_release(v);
  clt_release(x);
}
END_TEST

/* ---- map and unmap (lib/backend.h) -------------------------------------------------------- */

START_TEST(map_gives_the_host_the_storage_bytes) {
  clt_device *dev = TU_DEV;
  clt_tensor *t = clt_arange(dev, CLT_FLOAT32, 0, 6, 1);
  ck_assert_ptr_nonnull(t);
  void *p = NULL;
  /* read and write two elements in the middle */
  ck_assert_int_eq(dev->be->map(dev, t->st, 4, 8, CLT__MAP_READ | CLT__MAP_WRITE, &p), CLT_OK);
  ck_assert(((float *)p)[0] == 1.0f && ((float *)p)[1] == 2.0f);
  ((float *)p)[0] = 10;
  ((float *)p)[1] = 20;
  ck_assert_int_eq(dev->be->unmap(dev, t->st, p), CLT_OK);
  tu_assert_values(t, 1, (const int64_t[]){6}, (const double[]){0, 10, 20, 3, 4, 5});
  /* write the whole storage without reading it */
  ck_assert_int_eq(dev->be->map(dev, t->st, 0, 24, CLT__MAP_WRITE, &p), CLT_OK);
  for (int i = 0; i < 6; i++) ((float *)p)[i] = (float)(-i);
  ck_assert_int_eq(dev->be->unmap(dev, t->st, p), CLT_OK);
  tu_assert_values(t, 1, (const int64_t[]){6}, (const double[]){0, -1, -2, -3, -4, -5});
  /* read only, after a device op queued on it */
  clt_tensor *u = clt_mul_scalar(t, 2);
  ck_assert_int_eq(clt_eval(u), CLT_OK); /* computed: the backend's map reads the storage as it is (fusion) */
  ck_assert_int_eq(dev->be->map(dev, u->st, 0, 24, CLT__MAP_READ, &p), CLT_OK);
  ck_assert(((float *)p)[5] == -10.0f);
  ck_assert_int_eq(dev->be->unmap(dev, u->st, p), CLT_OK);
  if (!clt__is_host(dev)) { /* a failing map and unmap are errors naming the OpenCL call */
    clt__fault_arm(1, 0);
    clt_status s = dev->be->map(dev, u->st, 0, 24, CLT__MAP_READ, &p);
    ck_assert_int_ne(s, CLT_OK);
    ck_assert_ptr_null(tu_fault_unnamed(s));
    clt_clear_error();
    ck_assert_int_eq(dev->be->map(dev, u->st, 0, 24, CLT__MAP_READ, &p), CLT_OK);
    /* a map of PoCL's own memory (the host route's learnt address, lib/cl/backend.c cl_map)
     * has nothing to undo: its unmap makes no call that could fail */
    clt__fault_arm(1, -36 /* CL_INVALID_COMMAND_QUEUE */);
    clt_status us = dev->be->unmap(dev, u->st, p);
    if (clt__fault_fired()) {
      ck_assert_int_eq(us, CLT_ERR_BACKEND);
      ck_assert_ptr_null(tu_fault_unnamed(CLT_ERR_BACKEND));
      clt_clear_error();
      ck_assert_int_eq(dev->be->unmap(dev, u->st, p), CLT_OK);
    } else {
      clt__fault_arm(0, 0);
      ck_assert_int_eq(us, CLT_OK);
    }
  }
  clt_release(u);
  clt_release(t);
}
END_TEST

/* ---- the sampler (lib/dist/shard.c) ----------------------------------------------------- */

/* What clt-train did before the sampler: one splitmix64 stream over the epochs, each epoch a
 * Fisher-Yates pass over 0..n-1. */
static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

START_TEST(shard_makes_any_epoch_of_one_stream) {
  enum { n = 37, epochs = 4 };
  uint64_t seed = 12345, stream = seed;
  int64_t want[n], got[n], counts[n];
  for (int e = 0; e < epochs; e++) {
    for (int64_t i = 0; i < n; i++) want[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(splitmix(&stream) % (uint64_t)(i + 1)), t = want[i];
      want[i] = want[j];
      want[j] = t;
    }
    ck_assert_int_eq(clt_dist_shard(n, 8, seed, e, 0, 1, got, counts), CLT_OK);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(got[i], want[i]);
    for (int b = 0; b < 5; b++) ck_assert_int_eq(counts[b], b < 4 ? 8 : 5);
  }
}
END_TEST

/* For each world size, the ranks' parts of each batch, in rank order, are the batch itself:
 * numpy.array_split's lengths, empty parts where a batch is shorter than the world. */
START_TEST(shard_splits_every_batch_between_the_ranks) {
  enum { n = 23, batch = 5, nb = (n + batch - 1) / batch };
  int64_t perm[n], cnt[nb], idx[8][n], counts[8][nb];
  ck_assert_int_eq(clt_dist_shard(n, batch, 7, 3, 0, 1, perm, cnt), CLT_OK);
  for (int size = 1; size <= 7; size++) {
    for (int r = 0; r < size; r++) ck_assert_int_eq(clt_dist_shard(n, batch, 7, 3, r, size, idx[r], counts[r]), CLT_OK);
    int64_t off[8] = {0};
    for (int b = 0; b < nb; b++) {
      int64_t len = n - b * batch < batch ? n - b * batch : batch, at = b * batch;
      for (int r = 0; r < size; r++) {
        ck_assert_int_eq(counts[r][b], len / size + (r < len % size));
        for (int64_t k = 0; k < counts[r][b]; k++) ck_assert_int_eq(idx[r][off[r] + k], perm[at++]);
        off[r] += counts[r][b];
      }
      ck_assert_int_eq(at, b * batch + len);
    }
  }
  /* bad arguments; no samples is no work */
  ck_assert_int_eq(clt_dist_shard(-1, 1, 0, 0, 0, 1, perm, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_shard", "n -1");
  ck_assert_int_eq(clt_dist_shard(4, 0, 0, 0, 0, 1, perm, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "batch 0");
  ck_assert_int_eq(clt_dist_shard(4, 2, 0, -1, 0, 1, perm, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "epoch -1");
  ck_assert_int_eq(clt_dist_shard(4, 2, 0, 0, 2, 2, perm, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "rank 2 of size 2");
  ck_assert_int_eq(clt_dist_shard(4, 2, 0, 0, 0, 0, perm, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "rank 0 of size 0");
  ck_assert_int_eq(clt_dist_shard(4, 2, 0, 0, 0, 1, NULL, cnt), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "idx is NULL");
  ck_assert_int_eq(clt_dist_shard(0, 2, 0, 0, 0, 1, NULL, NULL), CLT_OK);
  clt__fault_arm(1, 0);
  ck_assert_int_eq(clt_dist_shard(4, 2, 0, 0, 0, 1, perm, cnt), CLT_ERR_OOM);
  TU_ASSERT_ERR(CLT_ERR_OOM, "clt_dist_shard", "permutation of 4");
}
END_TEST

/* ---- the optimizer's state (checkpoints) --------------------------------------------------- */

/* Steps of an optimizer over p: losses sum(p * p * k), k = 1 .. steps. */
static void take_steps(clt_optim *o, clt_tensor *p, int from, int to) {
  for (int k = from; k <= to; k++) {
    clt_scope_begin();
    ck_assert_int_eq(clt_optim_zero_grad(o), CLT_OK);
    clt_tensor *loss = clt_sum(clt_mul_scalar(clt_mul(p, p), k), CLT_ALL_DIMS, false);
    ck_assert_int_eq(clt_backward(loss, NULL), CLT_OK);
    ck_assert_int_eq(clt_optim_step(o), CLT_OK);
    clt_scope_end();
  }
}

/* Two steps, the state out, a new optimizer with the state in, two more: the same weights as
 * four steps of one optimizer, for Adam and SGD with momentum (state from the host works on
 * any device). */
START_TEST(optim_state_resumes_a_run_exactly) {
  clt_device *dev = TU_DEV;
  static const double init[4] = {1, -2, 0.5, 3};
  for (int kind = 0; kind < 2; kind++) {
    clt_optim_config cfg = clt_optim_defaults(kind ? CLT_OPTIM_SGD : CLT_OPTIM_ADAM);
    cfg.momentum = kind ? 0.9 : 0;
    clt_tensor *a = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(4), init), *b = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(4), init);
    clt_set_requires_grad(a, true);
    clt_set_requires_grad(b, true);
    clt_optim *oa, *ob1, *ob2;
    ck_assert_int_eq(clt_optim_create(&cfg, 1, &a, &oa), CLT_OK);
    ck_assert_int_eq(clt_optim_create(&cfg, 1, &b, &ob1), CLT_OK);
    clt_tensor *s1, *s2;
    ck_assert_int_eq(clt_optim_get_state(ob1, 0, &s1, &s2), CLT_OK);
    ck_assert(s1 == NULL && s2 == NULL); /* none before the first step */
    take_steps(oa, a, 1, 4);
    take_steps(ob1, b, 1, 2);
    ck_assert_int_eq(clt_optim_get_state(ob1, 0, &s1, &s2), CLT_OK);
    ck_assert_ptr_nonnull(s1);
    ck_assert(kind ? s2 == NULL : s2 != NULL);
    clt_device *host = tu_dev[0];
    clt_tensor *h1 = clt_to(s1, host), *h2 = s2 ? clt_to(s2, host) : NULL;
    clt_release(s1);
    clt_release(s2);
    clt_optim_release(ob1);
    ck_assert_int_eq(clt_optim_create(&cfg, 1, &b, &ob2), CLT_OK);
    ck_assert_int_eq(clt_optim_set_state(ob2, 0, h1, h2), CLT_OK);
    ck_assert_int_eq(clt_optim_set_steps(ob2, 2), CLT_OK);
    take_steps(ob2, b, 3, 4);
    double *va = tu_values(a), *vb = tu_values(b);
    for (int i = 0; i < 4; i++) ck_assert_msg(va[i] == vb[i], "element %d: %.9g resumed, %.9g straight", i, vb[i], va[i]);
    free(va);
    free(vb);
    /* bad state */
    clt_tensor *wrong = clt_zeros(host, CLT_FLOAT32, CLT_SHAPE(5));
    ck_assert_int_eq(clt_optim_set_state(ob2, 0, wrong, kind ? NULL : wrong), CLT_ERR_SHAPE);
    TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_optim_set_state", "[5]", "[4]");
    ck_assert_int_eq(clt_optim_set_state(ob2, 1, h1, h2), CLT_ERR_INDEX);
    TU_ASSERT_ERR(CLT_ERR_INDEX, "parameter 1 of an optimizer over 1");
    ck_assert_int_eq(clt_optim_set_state(ob2, 0, h1, kind ? h1 : NULL), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, kind ? "keeps no second buffer" : "both or neither");
    ck_assert_int_eq(clt_optim_get_state(NULL, 0, &s1, &s2), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_get_state");
    ck_assert_int_eq(clt_optim_get_state(ob2, 0, NULL, &s2), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "s1 is NULL");
    ck_assert_int_eq(clt_optim_set_steps(ob2, -1), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_optim_set_steps", "-1");
    ck_assert_int_eq(clt_optim_set_steps(NULL, 1), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument o is NULL");
    ck_assert_int_eq(clt_optim_set_state(ob2, 0, NULL, NULL), CLT_OK); /* back to no state */
    ck_assert_int_eq(clt_optim_get_state(ob2, 0, &s1, &s2), CLT_OK);
    ck_assert(s1 == NULL && s2 == NULL);
    clt_release(wrong);
    clt_release(h1);
    clt_release(h2);
    clt_optim_release(oa);
    clt_optim_release(ob2);
    clt_release(a);
    clt_release(b);
  }
  /* SGD without momentum keeps nothing */
  clt_optim_config cfg = clt_optim_defaults(CLT_OPTIM_SGD);
  clt_tensor *p = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(2));
  clt_set_requires_grad(p, true);
  clt_optim *o;
  ck_assert_int_eq(clt_optim_create(&cfg, 1, &p, &o), CLT_OK);
  ck_assert_int_eq(clt_optim_set_state(o, 0, p, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "SGD without momentum keeps no state");
  clt_optim_release(o);
  clt_release(p);
}
END_TEST

#ifndef CLT_HAVE_MPI

/* ---- a build without MPI ------------------------------------------------------------------ */

START_TEST(without_mpi_every_collective_refuses) {
  clt_device *dev = TU_DEV;
  ck_assert(!clt_dist_available());
  clt_dist *d = (clt_dist *)1;
  ck_assert_int_eq(clt_dist_init(NULL, NULL, &d), CLT_ERR_UNSUPPORTED);
  ck_assert_ptr_null(d);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_init", "built without MPI");
  ck_assert_int_eq(clt_dist_rank(NULL), -1);
  ck_assert_int_eq(clt_dist_size(NULL), -1);
  ck_assert_int_eq(clt_dist_local_rank(NULL), -1);
  ck_assert_int_eq(clt_dist_set_timeout(NULL, 1), CLT_ERR_UNSUPPORTED);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_set_timeout");
  clt_tensor *t = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(3));
  clt_set_requires_grad(t, true);
  ck_assert_int_eq(clt_dist_allreduce(NULL, t, CLT_DIST_SUM), CLT_ERR_UNSUPPORTED);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_allreduce");
  ck_assert_int_eq(clt_dist_broadcast(NULL, t, 0), CLT_ERR_UNSUPPORTED);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_broadcast");
  ck_assert_ptr_null(clt_dist_all_gather(NULL, t));
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_all_gather");
  ck_assert_int_eq(clt_dist_barrier(NULL), CLT_ERR_UNSUPPORTED);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_dist_barrier");
  clt_ddp *ddp = (clt_ddp *)1;
  ck_assert_int_eq(clt_ddp_create(NULL, 1, &t, NULL, &ddp), CLT_ERR_UNSUPPORTED);
  ck_assert_ptr_null(ddp);
  TU_ASSERT_ERR(CLT_ERR_UNSUPPORTED, "clt_ddp_create");
  ck_assert_int_eq(clt_ddp_backward(NULL, t, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_backward", "ddp is NULL");
  ck_assert_int_eq(clt_ddp_buckets(NULL), -1);
  clt_ddp_stats st;
  ck_assert_int_eq(clt_ddp_get_stats(NULL, &st), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_get_stats");
  clt_ddp_release(NULL);
  clt_dist_release(NULL);
  clt_release(t);
}
END_TEST

#else

/* ---- the communicator ---------------------------------------------------------------------- */

/* world: every allreduce one MPI_Iallreduce; ring_world: through clt's ring (whatever the size
 * and the number of ranks, which choose between them by default) */
static clt_dist *world, *ring_world;
static int R, N;                      /* this rank, the world's size */

/* Tests of allreduces run on each device with each handle: _i counts devices, then handles. */
#define TU_DEVICES_BOTH_PATHS(tc, fn) tcase_add_loop_test((tc), (fn), 0, 2 * tu_ndev)
#define BOTH_DEV (tu_dev[_i % tu_ndev])
#define BOTH_WORLD (_i >= tu_ndev ? ring_world : world)


/* Allreduces of handles made from now on: all in the ring (lib/dist/comm_mpi.c), or none. */
static void choose_path(bool ring) { setenv("CLT_DIST_RING_MIN", ring ? "0" : "18446744073709551615", 1); }

static clt_dist *adopt_world(bool ring) {
  clt_dist *d = NULL;
  choose_path(ring);
  clt_status s = clt_dist_adopt(MPI_COMM_WORLD, &d);
  choose_path(false);
  return s == CLT_OK ? d : NULL;
}

START_TEST(handles_know_their_ranks) {
  ck_assert(clt_dist_available());
  const char *env = getenv("OMPI_COMM_WORLD_SIZE");
  if (env) ck_assert_int_eq(N, atoi(env));
  ck_assert(R >= 0 && R < N);
  ck_assert(clt_dist_local_rank(world) >= 0 && clt_dist_local_rank(world) < N);
  clt_dist *again, *adopted, *half;
  ck_assert_int_eq(clt_dist_init(NULL, NULL, &again), CLT_OK); /* MPI is up: a second handle */
  ck_assert_int_eq(clt_dist_rank(again), R);
  ck_assert_int_eq(clt_dist_adopt(MPI_COMM_WORLD, &adopted), CLT_OK);
  ck_assert_int_eq(clt_dist_size(adopted), N);
  MPI_Comm split;
  MPI_Comm_split(MPI_COMM_WORLD, R % 2, R, &split);
  ck_assert_int_eq(clt_dist_adopt(split, &half), CLT_OK);
  ck_assert_int_eq(clt_dist_size(half), R % 2 ? N / 2 : (N + 1) / 2);
  ck_assert_int_eq(clt_dist_rank(half), R / 2);
  MPI_Comm_free(&split); /* the handle has its own duplicate */
  ck_assert_int_eq(clt_dist_barrier(half), CLT_OK);
  clt_dist_release(half);
  clt_dist_release(adopted);
  clt_dist_release(again);
  /* bad arguments */
  clt_dist *d;
  ck_assert_int_eq(clt_dist_adopt(MPI_COMM_NULL, &d), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_adopt", "MPI_COMM_NULL");
  ck_assert_int_eq(clt_dist_adopt(MPI_COMM_WORLD, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "out is NULL");
  ck_assert_int_eq(clt_dist_init(NULL, NULL, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_init", "out is NULL");
  int argc = 0;
  ck_assert_int_eq(clt_dist_init(&argc, NULL, &d), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argc and argv");
  ck_assert_int_eq(clt_dist_set_timeout(world, 0), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_set_timeout", "timeout 0");
  ck_assert_int_eq(clt_dist_set_timeout(NULL, 1), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "d is NULL");
  ck_assert_int_eq(clt_dist_rank(NULL), -1);
  ck_assert_int_eq(clt_dist_size(NULL), -1);
  ck_assert_int_eq(clt_dist_local_rank(NULL), -1);
  clt_dist_release(NULL);
}
END_TEST

/* Rank r's element i, exact in every dtype. */
static double value_at(clt_dtype dt, int r, int i) {
  return dt == CLT_BOOL ? (double)((r + i) % 3 == 0) : (double)((r + 1) * (i + 2) % 7) - (dt == CLT_UINT8 ? 0 : 2);
}

/* Sizes: fewer elements than ranks (the ring's chunks empty), a few, and large (uneven chunks). */
START_TEST(allreduce_every_dtype_and_op) {
  clt_device *dev = BOTH_DEV;
  clt_dist *d = BOTH_WORLD;
  static const int sizes[3] = {1, 5, 70001};
  for (int z = 0; z < 3; z++)
  for (int dt = 0; dt < CLT_DTYPE_COUNT; dt++) {
    if (dt == CLT_FLOAT64 && !dev->info.fp64) continue;
    if (z == 2 && dt != CLT_FLOAT32 && dt != CLT_UINT8) continue;
    for (int op = CLT_DIST_SUM; op <= CLT_DIST_MAX; op++) {
      int n = sizes[z];
      double *mine = malloc((size_t)n * sizeof *mine), *want = malloc((size_t)n * sizeof *want);
      for (int i = 0; i < n; i++) {
        mine[i] = value_at(dt, R, i);
        want[i] = op == CLT_DIST_MAX ? -1e9 : 0;
        for (int r = 0; r < N; r++)
          want[i] = op == CLT_DIST_MAX ? fmax(want[i], value_at(dt, r, i)) : want[i] + value_at(dt, r, i);
        if (op == CLT_DIST_MEAN) want[i] = dt == CLT_FLOAT32 ? (double)(float)(want[i] / N) : want[i] / N;
      }
      clt_tensor *f = clt_from_host(tu_dev[0], CLT_FLOAT64, 1, (const int64_t[]){n}, mine), *c = clt_cast(f, dt);
      clt_tensor *t = clt_to(c, dev);
      ck_assert_ptr_nonnull(t);
      long version = atomic_load(&t->st->version);
      clt_status s = clt_dist_allreduce(d, t, op);
      if (op == CLT_DIST_MEAN && !clt_dtype_is_float(dt)) {
        ck_assert_int_eq(s, CLT_ERR_DTYPE);
        TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_dist_allreduce", "CLT_DIST_MEAN", clt_dtype_name(dt));
      } else if (op == CLT_DIST_SUM && dt == CLT_BOOL) {
        ck_assert_int_eq(s, CLT_ERR_DTYPE);
        TU_ASSERT_ERR(CLT_ERR_DTYPE, "CLT_DIST_SUM of a bool tensor");
      } else {
        ck_assert_msg(s == CLT_OK, "%s of %s: %s", op == CLT_DIST_SUM ? "sum" : op == CLT_DIST_MEAN ? "mean" : "max",
                      clt_dtype_name(dt), clt_last_error());
        tu_assert_values(t, 1, (const int64_t[]){n}, want);
        ck_assert_int_gt(atomic_load(&t->st->version), version);
      }
      clt_release(f);
      clt_release(c);
      clt_release(t);
      free(mine);
      free(want);
    }
  }
  /* a view that is not contiguous: reduced through a copy, written back */
  clt_tensor *base = clt_arange(dev, CLT_FLOAT32, 0, 6, 1), *r = clt_view(base, CLT_SHAPE(2, 3)), *v = clt_transpose(r, 0, 1);
  ck_assert_int_eq(clt_dist_allreduce(d, v, CLT_DIST_SUM), CLT_OK);
  double want6[6];
  for (int i = 0; i < 6; i++) want6[i] = (double)(i * N);
  tu_assert_values(base, 1, (const int64_t[]){6}, want6);
  /* empty: nothing to do; bad arguments */
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0, 3));
  ck_assert_int_eq(clt_dist_allreduce(d, e, CLT_DIST_SUM), CLT_OK);
  ck_assert_int_eq(clt_dist_allreduce(d, base, (clt_dist_op)7), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "op 7");
  ck_assert_int_eq(clt_dist_allreduce(d, NULL, CLT_DIST_SUM), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_allreduce", "t is NULL");
  ck_assert_int_eq(clt_dist_allreduce(NULL, base, CLT_DIST_SUM), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "d is NULL");
  clt_release(e);
  clt_release(v);
  clt_release(r);
  clt_release(base);
}
END_TEST

START_TEST(broadcast_from_every_root) {
  clt_device *dev = TU_DEV;
  for (int root = 0; root < N; root++) {
    float mine[6];
    double want[6];
    for (int i = 0; i < 6; i++) mine[i] = (float)(100 * R + i), want[i] = 100 * root + i;
    clt_tensor *t = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), mine);
    ck_assert_int_eq(clt_dist_broadcast(world, t, root), CLT_OK);
    tu_assert_values(t, 2, (const int64_t[]){2, 3}, want);
    clt_tensor *c = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), mine), *tt = clt_transpose(c, 0, 1);
    ck_assert_int_eq(clt_dist_broadcast(world, tt, root), CLT_OK); /* through a copy */
    tu_assert_values(c, 2, (const int64_t[]){2, 3}, want);
    clt_release(tt);
    clt_release(c);
    clt_release(t);
  }
  clt_tensor *t = clt_zeros(dev, CLT_INT64, CLT_SHAPE(2));
  ck_assert_int_eq(clt_dist_broadcast(world, t, N), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_dist_broadcast", "root");
  ck_assert_int_eq(clt_dist_broadcast(world, t, -1), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "root -1");
  ck_assert_int_eq(clt_dist_broadcast(world, NULL, 0), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "t is NULL");
  clt_release(t);
}
END_TEST

START_TEST(all_gather_stacks_in_rank_order) {
  clt_device *dev = TU_DEV;
  double mine[6], *want = malloc((size_t)(6 * N) * sizeof *want);
  for (int i = 0; i < 6; i++) mine[i] = 10 * R + i;
  for (int r = 0; r < N; r++)
    for (int i = 0; i < 6; i++) want[6 * r + i] = 10 * r + i;
  clt_tensor *t = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(2, 3), mine);
  clt_tensor *all = clt_dist_all_gather(world, t);
  tu_assert_values(all, 3, (const int64_t[]){N, 2, 3}, want);
  ck_assert(clt_device_of(all) == dev);
  clt_tensor *e = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(0)), *ae = clt_dist_all_gather(world, e);
  tu_assert_values(ae, 2, (const int64_t[]){N, 0}, NULL);
  clt_tensor *big = clt_zeros(dev, CLT_FLOAT32, CLT_SHAPE(1, 1, 1, 1, 1, 1, 1, 1));
  ck_assert_ptr_null(clt_dist_all_gather(world, big));
  TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_dist_all_gather", "8 dims");
  ck_assert_ptr_null(clt_dist_all_gather(world, NULL));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "t is NULL");
  clt_release(big);
  clt_release(ae);
  clt_release(e);
  clt_release(all);
  clt_release(t);
  free(want);
}
END_TEST

/* Rank 0 waits at a barrier no other rank has reached yet: past the timeout it fails clearly,
 * and the handle refuses afterwards. Then the others join that barrier, so the request rank 0
 * left behind completes (in its later MPI calls). */
START_TEST(a_collective_no_other_rank_joins_times_out) {
  ck_assert_int_eq(clt_dist_barrier(world), CLT_OK);
  if (N < 2) TU_SKIP("one rank: no other rank to wait for");
  clt_dist *h;
  ck_assert_int_eq(clt_dist_adopt(MPI_COMM_WORLD, &h), CLT_OK);
  ck_assert_int_eq(clt_dist_set_timeout(h, 0.3), CLT_OK);
  if (R == 0) {
    double t0 = clt__now();
    ck_assert_int_eq(clt_dist_barrier(h), CLT_ERR_BACKEND);
    double waited = clt__now() - t0;
    ck_assert_msg(waited >= 0.3 && waited < 5, "waited %g s for a 0.3 s timeout", waited);
    TU_ASSERT_ERR(CLT_ERR_BACKEND, "clt_dist_barrier", "MPI_Ibarrier did not complete within 0.3 s", "rank 0 of");
    clt_tensor *t = clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(1));
    ck_assert_int_eq(clt_dist_allreduce(h, t, CLT_DIST_SUM), CLT_ERR_STATE);
    TU_ASSERT_ERR(CLT_ERR_STATE, "clt_dist_allreduce", "failed earlier", "did not complete");
    clt_release(t);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (R != 0) ck_assert_int_eq(clt_dist_barrier(h), CLT_OK);
  clt_dist_release(h);
}
END_TEST

/* ---- data-parallel training ---------------------------------------------------------------- */

enum { IN = 5, HID = 7, OUT = 3, ROWS = 12 };

typedef struct {
  clt_tensor *p[5]; /* unused [4], w1 [HID, IN], b1, w2 [OUT, HID], b2 */
} model;

/* Different weights on every rank (create must broadcast rank 0's). */
static void model_init(model *m, clt_device *dev, int seed) {
  static const int64_t shapes[5][2] = {{4, 0}, {HID, IN}, {HID, 0}, {OUT, HID}, {OUT, 0}};
  clt_manual_seed((uint64_t)seed);
  for (int i = 0; i < 5; i++) {
    m->p[i] = clt_keep(clt_sub_scalar(clt_rand(dev, CLT_FLOAT64, shapes[i][1] ? 2 : 1, shapes[i]), 0.5));
    ck_assert_ptr_nonnull(m->p[i]);
    clt_set_requires_grad(m->p[i], true);
  }
}

static void model_free(model *m) {
  for (int i = 0; i < 5; i++) clt_release(m->p[i]);
}

/* The batch every rank sees (its own part taken from it): fixed rows and labels. */
static void batch(clt_device *dev, int64_t from, int64_t to, clt_tensor **x, clt_tensor **y) {
  double xs[ROWS * IN];
  int64_t ys[ROWS];
  for (int i = 0; i < ROWS * IN; i++) xs[i] = sin(1.7 * i) * 2;
  for (int i = 0; i < ROWS; i++) ys[i] = (i * 5) % OUT;
  clt_tensor *xa = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(ROWS, IN), xs), *ya = clt_from_host(dev, CLT_INT64, CLT_SHAPE(ROWS), ys);
  *x = clt_slice(xa, 0, from, to, 1);
  *y = clt_slice(ya, 0, from, to, 1);
}

/* cross entropy of the model on rows [from, to), summed, times scale */
static clt_tensor *loss_of(const model *m, clt_device *dev, int64_t from, int64_t to, double scale) {
  clt_tensor *x, *y;
  batch(dev, from, to, &x, &y);
  clt_tensor *h = clt_relu(clt_linear(x, m->p[1], m->p[2]));
  clt_tensor *logits = clt_linear(h, m->p[3], m->p[4]);
  return clt_mul_scalar(clt_cross_entropy(logits, y, CLT_REDUCTION_SUM), scale);
}

/* The gradients one process gets from the mean loss over rows [0, rows), on copies of m. */
static void reference_grads(const model *m, clt_device *dev, int64_t rows, double **want) {
  model c;
  for (int i = 0; i < 5; i++) {
    c.p[i] = clt_keep(clt_clone(clt_detach(m->p[i])));
    clt_set_requires_grad(c.p[i], true);
  }
  ck_assert_int_eq(clt_backward(loss_of(&c, dev, 0, rows, 1.0 / (double)rows), NULL), CLT_OK);
  want[0] = NULL; /* the unused parameter gets none */
  for (int i = 1; i < 5; i++) want[i] = tu_values(clt_grad(c.p[i]));
  model_free(&c);
}

static void assert_grads(const model *m, double *const *want, double factor, const char *what) {
  for (int i = 0; i < 5; i++) {
    clt_tensor *g = clt_grad(m->p[i]);
    ck_assert_msg(g != NULL, "%s: parameter %d has no gradient", what, i);
    double *v = tu_values(g);
    for (int64_t k = 0; k < clt_numel(g); k++) {
      double w = i > 0 ? factor * want[i][k] : 0; /* the unused parameter: zeros from every rank */
      ck_assert_msg(fabs(v[k] - w) <= 1e-12 * (1 + fabs(w)), "%s: parameter %d element %lld: %.17g on rank %d, one process %.17g",
                    what, i, (long long)k, v[k], R, w);
    }
    free(v);
  }
}

/* This rank's rows of a global batch of rows: numpy.array_split, as the sampler. */
static void my_rows(int64_t rows, int64_t *from, int64_t *to) {
  int64_t base = rows / N, extra = rows % N;
  *from = R * base + (R < extra ? R : extra);
  *to = *from + base + (R < extra);
}

/* Each rank's part of the batch, losses summed and scaled by N / rows: the mean over ranks is
 * one process's gradient of the batch's mean loss, with buckets of one or two parameters
 * (started during the backward), an unused parameter (zeros), gradients that accumulate without
 * zero_grad, and batches too short for every rank to get a row. */
START_TEST(ddp_gradients_are_one_process_gradients) {
  clt_device *dev = BOTH_DEV;
  clt_dist *d = BOTH_WORLD;
  if (!dev->info.fp64) TU_SKIP("%s has no float64", dev->info.spec);
  clt_scope_begin();
  model m;
  model_init(&m, dev, 1000 + R);
  /* both ways of moving the buckets: a communication thread (the default), the calling thread */
  for (int mode = 1; mode >= -1; mode -= 2) {
  clt_ddp *ddp;
  clt_ddp_options opts = {.bucket_bytes = 64, .comm_thread = mode}; /* b2, w2, b1, w1, unused: 5 buckets */
  ck_assert_int_eq(clt_ddp_create(d, 5, m.p, &opts, &ddp), CLT_OK);
  ck_assert_int_eq(clt_ddp_buckets(ddp), 5);
  for (int i = 0; i < 5; i++) { /* rank 0's weights everywhere */
    clt_tensor *all = clt_dist_all_gather(d, m.p[i]);
    double *v = tu_values(all);
    int64_t n = clt_numel(m.p[i]);
    for (int r = 1; r < N; r++)
      for (int64_t k = 0; k < n; k++) ck_assert_double_eq(v[r * n + k], v[k]);
    free(v);
  }
  for (int64_t rows = ROWS; rows >= 1; rows = rows > 1 ? 1 : 0) {
    double *want[5];
    reference_grads(&m, dev, rows, want);
    int64_t from, to;
    my_rows(rows, &from, &to);
    for (int step = 1; step <= 3; step++) {
      if (step != 2)
        for (int i = 0; i < 5; i++) clt_zero_grad(m.p[i]);
      clt_tensor *loss = loss_of(&m, dev, from, to, (double)N / (double)rows);
      ck_assert_msg(clt_ddp_backward(ddp, loss, NULL) == CLT_OK, "%s", clt_last_error());
      assert_grads(&m, want, step == 2 ? 2 : 1, rows == 1 ? "a batch of one row" : "a batch");
    }
    for (int i = 1; i < 5; i++) free(want[i]);
  }
  clt_ddp_stats st;
  ck_assert_int_eq(clt_ddp_get_stats(ddp, &st), CLT_OK);
  ck_assert_int_eq(st.steps, 6);
  ck_assert_uint_eq(st.bytes, (HID * IN + HID + OUT * HID + OUT + 4) * sizeof(double));
  ck_assert(st.backward_s > 0 && st.wait_s >= 0);
  /* every step, the four buckets of used parameters start during the backward, the unused
   * parameter's after it */
  ck_assert_int_eq(st.overlapped, 6 * 4);
  ck_assert_int_eq(st.threaded, mode == 1 ? 6 : 0);
  clt_ddp_release(ddp);
  }
  model_free(&m);
  clt_scope_end();
}
END_TEST

/* A weight used twice (its hook waits for both uses); a parameter list that differs between
 * ranks; bad arguments. */
START_TEST(ddp_shared_weights_and_bad_arguments) {
  clt_device *dev = TU_DEV;
  if (!dev->info.fp64) TU_SKIP("%s has no float64", dev->info.spec);
  clt_scope_begin();
  clt_tensor *w = clt_keep(clt_full(dev, CLT_FLOAT64, CLT_SHAPE(3, 3), 0.25 + R));
  clt_set_requires_grad(w, true);
  clt_ddp *ddp;
  ck_assert_int_eq(clt_ddp_create(world, 1, &w, NULL, &ddp), CLT_OK);
  ck_assert_int_eq(clt_ddp_buckets(ddp), 1);
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT64, CLT_SHAPE(1, 3), (const double[]){1 + R, 2, 3});
  clt_tensor *loss = clt_sum(clt_matmul(clt_matmul(x, w), w), CLT_ALL_DIMS, false);
  ck_assert_int_eq(clt_ddp_backward(ddp, loss, NULL), CLT_OK);
  /* d/dw sum(x w w) = x^T (1 w^T) + (x w)^T 1, with w = 0.25 everywhere: the mean over ranks of
   * x_r, linear in x, so the gradient at the mean row */
  double xm0 = 1 + (N - 1) / 2.0, xs = xm0 + 5, want[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) want[3 * i + j] = (i == 0 ? xm0 : i + 1) * 0.75 + 0.25 * xs;
  double *got = tu_values(clt_grad(w));
  for (int i = 0; i < 9; i++) ck_assert_double_eq_tol(got[i], want[i], 1e-12);
  free(got);
  clt_ddp_release(ddp);

  if (N > 1) { /* rank 0 passes another shape: every rank refuses */
    clt_tensor *p = clt_keep(clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(R == 0 ? 3 : 4)));
    clt_set_requires_grad(p, true);
    ck_assert_int_eq(clt_ddp_create(world, 1, &p, NULL, &ddp), CLT_ERR_SHAPE);
    TU_ASSERT_ERR(CLT_ERR_SHAPE, "clt_ddp_create", "the ranks' parameters differ");
    clt_release(p);
  }
  clt_tensor *plain = clt_zeros(dev, CLT_FLOAT64, CLT_SHAPE(2));
  clt_tensor *two[2] = {w, w};
  ck_assert_int_eq(clt_ddp_create(NULL, 1, &w, NULL, &ddp), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_create", "d is NULL");
  ck_assert_int_eq(clt_ddp_create(world, 0, &w, NULL, &ddp), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "n is 0");
  ck_assert_int_eq(clt_ddp_create(world, 1, &plain, NULL, &ddp), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "params[0] is not a float leaf that requires grad");
  ck_assert_int_eq(clt_ddp_create(world, 2, two, NULL, &ddp), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "params[0] and params[1] are the same tensor");
  ck_assert_int_eq(clt_ddp_create(world, 1, &w, NULL, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "out is NULL");
  clt_ddp_options bad = {.comm_thread = 2};
  ck_assert_int_eq(clt_ddp_create(world, 1, &w, &bad, &ddp), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_create", "opts->comm_thread is 2");
  ck_assert_ptr_null(ddp);
  clt_tensor *h16 = clt_zeros(tu_dev[0], CLT_BFLOAT16, CLT_SHAPE(2));
  clt_set_requires_grad(h16, true);
  ck_assert_int_eq(clt_ddp_create(world, 1, &h16, NULL, &ddp), CLT_ERR_DTYPE);
  TU_ASSERT_ERR(CLT_ERR_DTYPE, "clt_ddp_create", "params[0] is bfloat16: keep float32 master weights");
  clt_release(h16);
  if (tu_cl()) {
    clt_tensor *h = clt_zeros(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2)), *c = clt_zeros(tu_cl(), CLT_FLOAT32, CLT_SHAPE(2));
    clt_set_requires_grad(h, true);
    clt_set_requires_grad(c, true);
    clt_tensor *mixed[2] = {h, c};
    ck_assert_int_eq(clt_ddp_create(world, 2, mixed, NULL, &ddp), CLT_ERR_DEVICE_MISMATCH);
    TU_ASSERT_ERR(CLT_ERR_DEVICE_MISMATCH, "params[1] is on");
    clt_release(h);
    clt_release(c);
  }
  ck_assert_int_eq(clt_ddp_backward(NULL, w, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_backward", "ddp is NULL");
  ck_assert_int_eq(clt_ddp_create(world, 1, &w, NULL, &ddp), CLT_OK);
  ck_assert_int_eq(clt_ddp_backward(ddp, NULL, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "loss is NULL");
  /* a loss that needs no gradient fails on every rank, which still complete the step */
  ck_assert_int_eq(clt_ddp_backward(ddp, plain, NULL), CLT_ERR_AUTOGRAD);
  TU_ASSERT_ERR(CLT_ERR_AUTOGRAD, "clt_ddp_backward", "does not require grad");
  clt_ddp_stats st;
  ck_assert_int_eq(clt_ddp_get_stats(ddp, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_ddp_get_stats", "out is NULL");
  ck_assert_int_eq(clt_ddp_get_stats(ddp, &st), CLT_OK);
  ck_assert_int_eq(st.steps, 1);
  ck_assert_int_eq(clt_ddp_buckets(NULL), -1);
  clt_ddp_release(ddp);
  clt_ddp_release(NULL);
  clt_release(plain);
  clt_release(w);
  clt_scope_end();
}
END_TEST

/* One of each collective and a data-parallel step on dev; the numbers it ends with. */
static clt_status workload(clt_device *dev, bool ring, double *got) {
  clt_status s = CLT_OK;
  clt_dist *h = NULL;
  clt_ddp *ddp = NULL;
  clt_scope_begin();
  clt_tensor *t = clt_full(dev, CLT_FLOAT32, CLT_SHAPE(4), 1 + R);
  clt_tensor *w = clt_keep(clt_full(dev, CLT_FLOAT32, CLT_SHAPE(3), 0.5 + R));
  if (!t || !w) s = clt_last_status();
  choose_path(ring);
  if (s == CLT_OK) s = clt_dist_adopt(MPI_COMM_WORLD, &h);
  choose_path(false);
  if (s == CLT_OK) s = clt_dist_allreduce(h, t, CLT_DIST_SUM);
  if (s == CLT_OK) s = clt_dist_broadcast(h, t, N - 1);
  clt_tensor *all = s == CLT_OK ? clt_dist_all_gather(h, t) : NULL;
  if (s == CLT_OK && !all) s = clt_last_status();
  if (s == CLT_OK) s = clt_set_requires_grad(w, true);
  if (s == CLT_OK) s = clt_ddp_create(h, 1, &w, &(clt_ddp_options){.bucket_bytes = 4}, &ddp);
  clt_tensor *loss = s == CLT_OK ? clt_sum(clt_mul_scalar(clt_mul(w, w), 1 + R), CLT_ALL_DIMS, false) : NULL;
  if (s == CLT_OK && !loss) s = clt_last_status();
  if (s == CLT_OK) s = clt_ddp_backward(ddp, loss, NULL);
  clt_tensor *g = s == CLT_OK ? clt_grad(w) : NULL;
  if (s == CLT_OK) s = clt_item(clt_sum(all, CLT_ALL_DIMS, false), &got[0]);
  if (s == CLT_OK) s = clt_item(clt_sum(g, CLT_ALL_DIMS, false), &got[1]);
  clt_ddp_release(ddp);
  clt_release(w);
  clt_scope_end();
  clt_dist_release(h);
  return s;
}

/* Every fault point of the workload fails in turn, on every rank at once (their paths are the
 * same): each failure is an error naming what failed, leaks nothing, leaves the ranks in step
 * (no collective waits for one another never starts), and the clean run after it is right. */
START_TEST(fault_sweep_keeps_the_ranks_in_step) {
  clt_device *dev = BOTH_DEV;
  bool ring = _i >= tu_ndev;
  if (ring && _i != tu_ndev) return; /* the ring's points are the same on every device: the host's */
  double want[2], got[2];
  ck_assert_msg(workload(dev, ring, want) == CLT_OK, "%s", clt_last_error());
  /* sum of N * N elements of sum(1..N); gradient 2 w (1 + r), w = 0.5 (rank 0's), mean over r */
  ck_assert_double_eq(want[0], 4.0 * N * N * (N + 1) / 2.0);
  ck_assert_double_eq_tol(want[1], 3.0 * (1.0 + (N - 1) / 2.0), 1e-6);
  clt__fault_reset();
  ck_assert_int_eq(workload(dev, ring, got), CLT_OK);
  long points = clt__fault_count(), mpi_points = 0;
  for (long n = 1; n <= points; n++) {
    long before[CLT__LIVE_COUNT];
    for (int k = 0; k < CLT__LIVE_COUNT; k++) before[k] = atomic_load(&clt__live[k]);
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_status st = workload(dev, ring, got);
    bool fired = clt__fault_fired();
    const char *call = clt__fault_fired_call(), *wrong = st != CLT_OK ? tu_fault_unnamed(st) : NULL;
    mpi_points += call && strncmp(call, "MPI_", 4) == 0;
    ck_assert_msg(fired, "fault %ld of %ld on %s never fired", n, points, dev->info.spec);
    ck_assert_msg(st != CLT_OK, "fault %ld of %ld on %s at %s fired but the workload succeeded", n, points, dev->info.spec,
                  call ? call : "a host allocation");
    ck_assert_msg(!wrong, "fault %ld of %ld on %s: %s", n, points, dev->info.spec, wrong);
    clt__fault_reset();
    clt_clear_error();
    for (int k = 0; k < CLT__LIVE_COUNT; k++)
      if (k != CLT__LIVE_BUFFERS && k != CLT__LIVE_KERNELS && k != CLT__LIVE_PROGRAMS)
        ck_assert_msg(atomic_load(&clt__live[k]) == before[k], "fault %ld at %s: live %s %ld -> %ld", n,
                      call ? call : "a host allocation", tu_live_name(k), before[k], atomic_load(&clt__live[k]));
    ck_assert_msg(workload(dev, ring, got) == CLT_OK, "after fault %ld: %s", n, clt_last_error());
    ck_assert(got[0] == want[0] && got[1] == want[1]);
  }
  ck_assert_int_ge(mpi_points, 8); /* dup, split, allreduce, bcast, allgather, and those of ddp */
  if (R == 0)
    printf("fault sweep on %s%s: %ld points (%ld MPI calls), each failed in turn on %d ranks\n", dev->info.spec,
           ring ? " (allreduces in a ring)" : "", points, mpi_points, N);
}
END_TEST

#endif

static Suite *make_suite(void) {
  Suite *s = suite_create("dist");
  TCase *tc = tu_tcase("local");
  TU_DEVICES(tc, leaf_hook_runs_once_per_leaf_with_the_final_gradient);
  TU_DEVICES(tc, map_gives_the_host_the_storage_bytes);
  tcase_add_test(tc, shard_makes_any_epoch_of_one_stream);
  tcase_add_test(tc, shard_splits_every_batch_between_the_ranks);
  TU_DEVICES(tc, optim_state_resumes_a_run_exactly);
  suite_add_tcase(s, tc);
  tc = tu_tcase("collectives");
#ifndef CLT_HAVE_MPI
  TU_DEVICES(tc, without_mpi_every_collective_refuses);
#else
  tcase_add_test(tc, handles_know_their_ranks);
  TU_DEVICES_BOTH_PATHS(tc, allreduce_every_dtype_and_op);
  TU_DEVICES(tc, broadcast_from_every_root);
  TU_DEVICES(tc, all_gather_stacks_in_rank_order);
  tcase_add_test(tc, a_collective_no_other_rank_joins_times_out);
  TU_DEVICES_BOTH_PATHS(tc, ddp_gradients_are_one_process_gradients);
  TU_DEVICES(tc, ddp_shared_weights_and_bad_arguments);
  TU_DEVICES_BOTH_PATHS(tc, fault_sweep_keeps_the_ranks_in_step);
#endif
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
#ifdef CLT_HAVE_MPI
  /* the whole run's handle: clt initialises MPI here and finalises it when this is released */
  choose_path(false);
  if (clt_dist_init(&argc, &argv, &world) != CLT_OK) {
    fprintf(stderr, "test_dist: %s\n", clt_last_error());
    return 1;
  }
  R = clt_dist_rank(world);
  N = clt_dist_size(world);
  clt_dist_set_timeout(world, 120); /* a rank whose test failed leaves the others waiting */
  if (!(ring_world = adopt_world(true))) {
    fprintf(stderr, "test_dist: %s\n", clt_last_error());
    return 1;
  }
  clt_dist_set_timeout(ring_world, 120);
  int rc = tu_main(make_suite, TU_MANY_KERNELS);
  /* every rank's verdict, so that all exit alike */
  int all = rc;
  MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#if defined(__SANITIZE_ADDRESS__)
  /* Now, not at exit: MPI_Finalize unloads Open MPI's components, and LeakSanitizer could then
   * neither name nor suppress what they keep (tests/lsan-mpi.supp). */
  __lsan_do_leak_check();
#endif
  clt_dist_release(ring_world);
  clt_dist_release(world);
  if (R == 0) printf("test_dist: %d ranks, %s\n", N, all ? "FAILED" : "passed");
  return all;
#else
  (void)argc, (void)argv;
  return tu_main(make_suite, TU_MANY_KERNELS);
#endif
}
