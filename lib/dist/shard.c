/* The sampler: each rank's part of every global batch of an epoch (clt/dist.h). No MPI. */
#include "dist_impl.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

/* splitmix64: each draw adds GOLDEN to the state, so the state after k draws is
 * seed + k * GOLDEN (mod 2^64), and any epoch's start is known without the epochs before. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += GOLDEN);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Where rank's part of a batch of len samples starts, and its length. */
static void part(int64_t len, int rank, int size, int64_t *start, int64_t *count) {
  int64_t base = len / size, extra = len % size;
  *start = rank * base + (rank < extra ? rank : extra);
  *count = base + (rank < extra);
}

clt_status clt_dist_shard(int64_t n, int64_t batch, uint64_t seed, int64_t epoch, int rank, int size, int64_t *idx,
                          int64_t *counts) {
  clt__api("clt_dist_shard");
  if (n < 0 || batch < 1 || epoch < 0)
    return clt__err(CLT_ERR_INVALID_ARG, "n %lld, batch %lld and epoch %lld: need n >= 0, batch >= 1, epoch >= 0",
                    (long long)n, (long long)batch, (long long)epoch);
  if (size < 1 || rank < 0 || rank >= size)
    return clt__err(CLT_ERR_INVALID_ARG, "rank %d of size %d: need 0 <= rank < size", rank, size);
  if (n > 0 && (!idx || !counts)) return clt__err(CLT_ERR_INVALID_ARG, "argument %s is NULL", idx ? "counts" : "idx");
  if (n == 0) return CLT_OK;
  int64_t *perm = clt__malloc((size_t)n * sizeof *perm);
  if (!perm) return clt__err(CLT_ERR_OOM, "cannot allocate a permutation of %lld samples", (long long)n);
  uint64_t state = seed + (uint64_t)epoch * (uint64_t)(n - 1) * GOLDEN; /* n - 1 draws per epoch */
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(next_u64(&state) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  int64_t out = 0;
  for (int64_t b = 0, s = 0; s < n; b++, s += batch) {
    int64_t len = n - s < batch ? n - s : batch, start, count;
    part(len, rank, size, &start, &count);
    for (int64_t k = 0; k < count; k++) idx[out++] = perm[s + start + k];
    counts[b] = count;
  }
  clt__free_mem(perm);
  return CLT_OK;
}
