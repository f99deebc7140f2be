/* clt: training one model on several processes and machines, over MPI (as Horovod and PyTorch's
 * MPI backend do; docs/DISTRIBUTED.md shows how to run it).
 *
 * This header is always installed and its functions always exist, so one program builds against
 * any clt; in a clt built without MPI (meson -Dmpi=disabled, or no Open MPI found) the functions
 * that communicate return CLT_ERR_UNSUPPORTED, and clt_dist_available() says so up front.
 * clt_dist_shard needs no MPI. To hand clt a communicator of your own, see clt/dist_mpi.h.
 *
 * A clt_dist is a communicator: clt's own duplicate of MPI_COMM_WORLD (clt_dist_init) or of the
 * application's (clt_dist_adopt), with MPI_ERRORS_RETURN, so an MPI failure comes back as a clt
 * error naming the function, the MPI call and MPI's own error string, never as an abort. Every
 * collective is non-blocking MPI polled with MPI_Test against a timeout (clt_dist_set_timeout),
 * so a rank that hangs or is gone gives the others CLT_ERR_BACKEND ("... did not complete within
 * 600 s") instead of a hang. After such a failure the handle refuses further collectives
 * (CLT_ERR_STATE): requests MPI still holds cannot be cancelled, so the program should exit
 * (with a nonzero status: mpirun then ends the other ranks) and restart from a checkpoint.
 *
 * Collectives are called by every rank of the communicator in the same order, with tensors of
 * the same shape and dtype (MPI's rule; not checked, except by clt_ddp_create). They take
 * tensors on any device: device memory is mapped into the host for MPI (no copy on the host and
 * on devices that share host memory, such as CPUs and integrated GPUs; one copy each way
 * elsewhere: OpenCL has no GPU-direct path). They record no autograd and bump the tensor's
 * version like any in-place op. A handle is used by one thread at a time.
 */
#ifndef CLT_DIST_H
#define CLT_DIST_H

#include "clt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clt_dist clt_dist;

typedef enum clt_dist_op {
  CLT_DIST_SUM = 0,  /* every integer and float dtype but bool */
  CLT_DIST_MEAN = 1, /* the sum divided by the number of ranks: float dtypes */
  CLT_DIST_MAX = 2   /* every dtype (bool: logical or) */
} clt_dist_op;

/* Whether this clt was built with MPI. */
CLT_API bool clt_dist_available(void);

/* The communicator of every process of the job: initialises MPI (MPI_Init_thread with
 * MPI_THREAD_SERIALIZED; argc and argv may be NULL) unless the application already did, and
 * duplicates MPI_COMM_WORLD. When clt initialised MPI, releasing the last handle finalises it,
 * and MPI cannot be initialised again in that process (CLT_ERR_STATE). Collective: every rank
 * calls it. */
CLT_API clt_status clt_dist_init(int *argc, char ***argv, clt_dist **out);
/* Releases d (not collective); NULL is a no-op. */
CLT_API void clt_dist_release(clt_dist *d);

/* This process's rank in 0..size-1 and the number of ranks; -1 for NULL. */
CLT_API int clt_dist_rank(const clt_dist *d);
CLT_API int clt_dist_size(const clt_dist *d);
/* This process's rank among the ranks on its machine (MPI_COMM_TYPE_SHARED): the device to use
 * when a machine has one per rank ("cl:N"); -1 for NULL. */
CLT_API int clt_dist_local_rank(const clt_dist *d);

/* Seconds a collective may wait for the other ranks before it fails (> 0; default 600, or
 * $CLT_DIST_TIMEOUT when set). The first collectives may wait for other ranks to build their
 * kernels, which takes a minute or more on some devices when cold. */
CLT_API clt_status clt_dist_set_timeout(clt_dist *d, double seconds);

/* t = op over every rank's t, in place. float16 and bfloat16 tensors are reduced as float32 copies
 * (MPI has no 16-bit float) and rounded once back. */
CLT_API clt_status clt_dist_allreduce(clt_dist *d, clt_tensor *t, clt_dist_op op);
/* t = root's t on every rank, in place. */
CLT_API clt_status clt_dist_broadcast(clt_dist *d, clt_tensor *t, int root);
/* Every rank's t stacked in rank order: a new tensor [size, t's shape] on t's device. */
CLT_API clt_tensor *clt_dist_all_gather(clt_dist *d, clt_tensor *t);
/* Returns once every rank has called it. */
CLT_API clt_status clt_dist_barrier(clt_dist *d);

/* ---- data-parallel training (as PyTorch's DistributedDataParallel) -------------------------

   Every rank holds the whole model and takes its part of every batch. clt_ddp_create broadcasts
   the parameters from rank 0, so every rank starts from the same weights, and sorts them into
   buckets (parameters in reverse order, about bucket_bytes each: the last layers' gradients are
   final first). clt_ddp_backward runs the backward and, as soon as the gradients of a bucket are
   final (the autograd engine calls a hook when a leaf's gradient is complete), starts the
   bucket's allreduce (MPI_Iallreduce on the bucket mapped into host memory), so communication
   runs while the rest of the backward does. Buckets start in one order on every rank. Each
   gradient goes into its bucket divided by the number of ranks (as PyTorch's DDP divides before
   the allreduce: exact for powers of two), so the sum over the ranks is their mean. When it
   returns, each parameter's gradient holds that mean (copied back from the bucket, as PyTorch's
   DDP by default), and the optimizer steps as usual. A parameter no gradient reached on a rank
   counts as zeros there.

   With the loss each rank computes as the sum over its samples times size / (global batch), the
   mean over ranks is the gradient of the global batch's mean loss: one process's gradient, but
   for the order of the float additions (docs/DISTRIBUTED.md measures how close). The reduction
   order is fixed for a world size, so the same seed and world size give the same weights on
   every run. */

typedef struct clt_ddp clt_ddp;

typedef struct clt_ddp_options {
  size_t bucket_bytes; /* 0: 25 MiB (PyTorch's bucket_cap_mb) */
  /* Who moves the allreduces during the backward. 1: a communication thread per step, started
   * and joined inside clt_ddp_backward, maps each bucket and polls MPI (pausing
   * $CLT_DDP_POLL_US microseconds, default 50, between polls) while the calling thread goes on
   * with the backward (Horovod's design); MPI is called from that thread during the backward and
   * from the caller after it, never from both at once, so it needs MPI_THREAD_SERIALIZED, which
   * clt_dist_init asks for, and fails (CLT_ERR_UNSUPPORTED) where MPI gives less (an
   * application's MPI_Init) or the platform has no threads for it (Windows). -1: the calling
   * thread starts each bucket from the leaf hook and polls MPI once per parameter. 0 (auto): 1
   * where it can run and the machine has at least two cores per rank on it, else -1 (with fewer,
   * the thread takes cores from the backward's kernels: docs/DISTRIBUTED.md measures both).
   * $CLT_DDP_COMM_THREAD (1 or -1) replaces 0. */
  int comm_thread;
} clt_ddp_options;

/* Data-parallel training of params (n distinct float leaves that require grad, on one device,
 * the same shapes and dtypes in the same order on every rank: checked, CLT_ERR_SHAPE otherwise)
 * over d. opts may be NULL. Broadcasts the parameters from rank 0. Retains d and the
 * parameters. Collective. */
CLT_API clt_status clt_ddp_create(clt_dist *d, int n, clt_tensor *const *params, const clt_ddp_options *opts,
                                  clt_ddp **out);
/* clt_backward(loss, grad) with the gradients averaged over the ranks as described above.
 * Collective. After a failure of this rank alone (its backward, say) it still starts and waits
 * for the step's remaining allreduces, with zeros where gradients are missing, so that the other
 * ranks are not left waiting, and returns the first failure (the gradients are then undefined).
 * After a failed allreduce the ddp refuses further steps (CLT_ERR_STATE). */
CLT_API clt_status clt_ddp_backward(clt_ddp *ddp, clt_tensor *loss, clt_tensor *grad);
/* Number of buckets the parameters were sorted into; -1 for NULL. */
CLT_API int clt_ddp_buckets(const clt_ddp *ddp);

/* Where the time of clt_ddp_backward went, summed over its calls. */
typedef struct clt_ddp_stats {
  int64_t steps;     /* calls */
  size_t bytes;      /* allreduced per call */
  double backward_s; /* in the backward itself, with the copies into buckets and the allreduces started */
  double wait_s;     /* after the backward, waiting for the allreduces to finish */
  int64_t overlapped; /* buckets whose allreduce started during the backward (the others start after it) */
  int64_t threaded;   /* calls whose buckets a communication thread moved (clt_ddp_options.comm_thread) */
} clt_ddp_stats;
CLT_API clt_status clt_ddp_get_stats(const clt_ddp *ddp, clt_ddp_stats *out);
CLT_API void clt_ddp_release(clt_ddp *ddp);

/* ---- the sampler --------------------------------------------------------------------------- */

/* The samples a rank takes in one epoch, as PyTorch's DistributedSampler but per global batch:
 * the epoch's permutation of 0..n-1 is cut into batches of `batch` samples (the last may be
 * smaller), and each batch into size contiguous parts, the first (its length % size) of them one
 * longer (numpy.array_split). idx (room for n) gets this rank's parts in batch order, counts
 * (room for ceil(n / batch)) each part's length; a part may be empty when a batch is shorter
 * than size. So the ranks of one step together take exactly the batch one process would.
 *
 * The permutations of successive epochs follow one splitmix64 stream from seed (Fisher-Yates
 * from the last element down, j = next % (i + 1)); epoch e's is made directly, without those
 * before it (a run resumed at epoch e gets the same batches), and is the same on every rank.
 * Needs no MPI. */
CLT_API clt_status clt_dist_shard(int64_t n, int64_t batch, uint64_t seed, int64_t epoch, int rank, int size,
                                  int64_t *idx, int64_t *counts);

#ifdef __cplusplus
}
#endif

#endif
