/* Files as an attacker or a careless world leaves them (issue 12): saves that meet planted links,
 * FIFOs, long names, permissions and dead processes' temporaries; hostile safetensors and .npy
 * files (tests/hostile, written by tests/hostile/make_hostile.py) from a path, a buffer and a
 * stream; inputs whose headers claim more memory than they hold, in a child process whose
 * allocations are capped; byte order for big-endian hosts; sizes that overflow; and, on OpenCL,
 * kernel-cache entries that are not what their name says, cache and kernel directories other
 * users can write, and hostile CLBlast tuning files. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "tu.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static const char *self;
static char hostile_dir[512];

/* ---- helpers ------------------------------------------------------------------------------ */

static void *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *b = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void put_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

static char *new_dir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/clt-files-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(buf));
  return buf;
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_tree(p);
    else unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

/* Names in dir other than . and .. */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  if (d) closedir(d);
  return n;
}

/* A pid that no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void) {
  pid_t p = fork();
  if (p == 0) _exit(0);
  ck_assert_int_gt(p, 0);
  waitpid(p, NULL, 0);
  return p;
}

/* Runs fn in a forked child under a deadline: a save that blocks (on a FIFO) is killed, and a
 * crash in the child does not take the suite with it. The child uses the host device only. */
static void in_child(int (*fn)(void), const char *what) {
  pid_t p = fork();
  if (p == 0) {
    signal(SIGALRM, SIG_DFL); /* Check's handler would kill the whole process group */
    alarm(20);
    _exit(fn());
  }
  int status = 0;
  ck_assert_int_eq(waitpid(p, &status, 0), p);
  ck_assert_msg(WIFEXITED(status), "%s: the child died (signal %d%s)", what, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? ": it blocked" : "");
  ck_assert_msg(WEXITSTATUS(status) == 0, "%s failed in the child (see its stderr)", what);
}

#define CHILD_FAIL(...)                                                          \
  do {                                                                           \
    fprintf(stderr, "line %d: ", __LINE__);                                      \
    fprintf(stderr, __VA_ARGS__);                                                \
    fprintf(stderr, " (last error: %s)\n", clt_last_error());                  \
    return 1;                                                                    \
  } while (0)

/* ---- saving ------------------------------------------------------------------------------- */

/* Saves t to path both ways clt saves one tensor. */
static clt_status save_both(clt_tensor *t, const char *npy, const char *st) {
  clt_status s = clt_save_npy(npy, t);
  const char *names[1] = {"t"};
  return s != CLT_OK ? s : clt_save_safetensors(st, 1, names, &t);
}

/* The names the temporaries had before (path.tmp-<pid>-<n>, n counting saves from 0), planted
 * as symlinks to a file the attacker wants overwritten, or as FIFOs. */
static int planted(bool fifo) {
  char dir[64], victim[128], npy[128], st[128], plant[256];
  snprintf(dir, sizeof dir, "/tmp/clt-files-plant-%ld", (long)getpid());
  mkdir(dir, 0700);
  snprintf(victim, sizeof victim, "%s/victim", dir);
  snprintf(npy, sizeof npy, "%s/w.npy", dir);
  snprintf(st, sizeof st, "%s/w.safetensors", dir);
  FILE *f = fopen(victim, "w");
  if (!f) CHILD_FAIL("victim");
  fputs("precious", f);
  fclose(f);
  for (int n = 0; n < 512; n++)
    for (int k = 0; k < 2; k++) {
      snprintf(plant, sizeof plant, "%s.tmp-%ld-%d", k ? st : npy, (long)getpid(), n);
      if ((fifo ? mkfifo(plant, 0600) : symlink(victim, plant)) != 0) CHILD_FAIL("plant %s", plant);
    }
  clt_device *host;
  if (clt_device_open("host", &host) != CLT_OK) CHILD_FAIL("open");
  clt_tensor *t = clt_full(host, CLT_FLOAT32, CLT_SHAPE(3), 2.5);
  int rc = 0;
  if (save_both(t, npy, st) != CLT_OK) CHILD_FAIL("the saves failed");
  char buf[16] = {0};
  f = fopen(victim, "r");
  if (!f || !fgets(buf, sizeof buf, f) || strcmp(buf, "precious") != 0) {
    fprintf(stderr, "the victim now holds '%s'\n", buf);
    rc = 1;
  }
  if (f) fclose(f);
  struct stat sb;
  if (lstat(npy, &sb) != 0 || !S_ISREG(sb.st_mode) || lstat(st, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fprintf(stderr, "a destination is not a regular file\n");
    rc = 1;
  }
  clt_tensor *back = NULL, *sum = NULL;
  double v = 0;
  if (clt_load_npy(npy, host, &back) != CLT_OK || !(sum = clt_sum(back, CLT_ALL_DIMS, false)) ||
      clt_item(sum, &v) != CLT_OK || v != 7.5) {
    fprintf(stderr, "the saved file does not load back (%g)\n", v);
    rc = 1;
  }
  clt_release(sum);
  clt_release(back);
  clt_release(t);
  clt_device_release(host);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) rc = 1;
  return rc;
}

static int planted_links(void) { return planted(false); }
static int planted_fifos(void) { return planted(true); }

START_TEST(saves_never_follow_planted_links) { in_child(planted_links, "saving among planted symlinks"); }
END_TEST

START_TEST(saves_never_block_on_planted_fifos) { in_child(planted_fifos, "saving among planted FIFOs"); }
END_TEST

/* A link at the destination itself is replaced, never written through. */
START_TEST(a_link_at_the_destination_is_replaced) {
  char dir[64], victim[128], path[128];
  new_dir(dir, sizeof dir);
  snprintf(victim, sizeof victim, "%s/victim", dir);
  snprintf(path, sizeof path, "%s/w.npy", dir);
  put_file(victim, "precious", 8);
  ck_assert_int_eq(symlink(victim, path), 0);
  clt_tensor *t = clt_ones(tu_dev[0], CLT_INT32, CLT_SHAPE(2));
  ck_assert_int_eq(clt_save_npy(path, t), CLT_OK);
  size_t len;
  char *v = slurp(victim, &len);
  ck_assert(len == 8 && memcmp(v, "precious", 8) == 0);
  free(v);
  struct stat sb;
  ck_assert_int_eq(lstat(path, &sb), 0);
  ck_assert(S_ISREG(sb.st_mode));
  clt_release(t);
  rm_tree(dir);
}
END_TEST

static mode_t mode_of(const char *path) {
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
  return sb.st_mode & 0777;
}

START_TEST(resaves_keep_the_permission_bits) {
  char dir[64], npy[128], st[128];
  new_dir(dir, sizeof dir);
  snprintf(npy, sizeof npy, "%s/w.npy", dir);
  snprintf(st, sizeof st, "%s/w.safetensors", dir);
  clt_tensor *t = clt_ones(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(4));
  mode_t old = umask(022);
  ck_assert_int_eq(save_both(t, npy, st), CLT_OK);
  ck_assert_uint_eq(mode_of(npy), 0644); /* a new file: the umask's */
  ck_assert_uint_eq(mode_of(st), 0644);
  const mode_t modes[] = {0600, 0640, 0604};
  for (size_t i = 0; i < 3; i++) {
    chmod(npy, modes[i]);
    chmod(st, modes[i]);
    ck_assert_int_eq(save_both(t, npy, st), CLT_OK);
    ck_assert_uint_eq(mode_of(npy), modes[i]);
    ck_assert_uint_eq(mode_of(st), modes[i]);
  }
  umask(old);
  ck_assert_int_eq(entries(dir), 2); /* no temporary left */
  clt_release(t);
  rm_tree(dir);
}
END_TEST

/* The longest legal name (255 bytes) saves: the temporary's name does not grow with it. */
START_TEST(the_longest_legal_name_saves) {
  char dir[64], path[512], name[256];
  new_dir(dir, sizeof dir);
  memset(name, 'n', 251);
  snprintf(name + 251, 5, ".npy");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  clt_tensor *t = clt_arange(tu_dev[0], CLT_INT64, 0, 5, 1), *back = NULL;
  ck_assert_msg(clt_save_npy(path, t) == CLT_OK, "%s", clt_last_error());
  ck_assert_int_eq(clt_load_npy(path, NULL, &back), CLT_OK);
  tu_assert_values(back, 1, (const int64_t[]){5}, (const double[]){0, 1, 2, 3, 4});
  snprintf(name + 251, 5, ".st_");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  const char *names[1] = {"t"};
  ck_assert_msg(clt_save_safetensors(path, 1, names, &t) == CLT_OK, "%s", clt_last_error());
  ck_assert_int_eq(entries(dir), 2);
  clt_release(t);
  clt_release(back);
  rm_tree(dir);
}
END_TEST

/* Temporaries of processes killed mid-save are removed by the next save into the directory;
 * those of live processes, recent ones and other files are kept. */
START_TEST(dead_processes_temporaries_are_removed) {
  char dir[64], path[128], p[256];
  new_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.npy", dir);
  long dead = (long)dead_pid();
  struct { const char *fmt; long pid; bool old, stays; } files[] = {
      {"%s/" CLT__TMP_PREFIX "%ld-abcdefghijkl", dead, true, false},
      {"%s/" CLT__TMP_PREFIX "%ld-recentrecent", dead, false, true},  /* maybe still written elsewhere */
      {"%s/" CLT__TMP_PREFIX "%ld-aliveprocess", (long)getpid(), true, true},
      {"%s/" CLT__TMP_PREFIX "%ld-initprocess0", 1, true, true},
      {"%s/notours-%ld", dead, true, true},
  };
  struct timeval old_times[2] = {{time(NULL) - 2 * CLT__TMP_STALE_S, 0}, {time(NULL) - 2 * CLT__TMP_STALE_S, 0}};
  for (size_t i = 0; i < 5; i++) {
    snprintf(p, sizeof p, files[i].fmt, dir, files[i].pid);
    put_file(p, "partial", 7);
    if (files[i].old) ck_assert_int_eq(utimes(p, old_times), 0);
  }
  clt_tensor *t = clt_ones(tu_dev[0], CLT_UINT8, CLT_SHAPE(3));
  ck_assert_int_eq(clt_save_npy(path, t), CLT_OK);
  for (size_t i = 0; i < 5; i++) {
    snprintf(p, sizeof p, files[i].fmt, dir, files[i].pid);
    ck_assert_msg((access(p, F_OK) == 0) == files[i].stays, "%s %s", p, files[i].stays ? "was removed" : "is still there");
  }
  clt_release(t);
  rm_tree(dir);
}
END_TEST

/* A rename that fails (the destination is a directory) leaves no temporary. */
START_TEST(failed_renames_leave_no_temporary) {
  char dir[64], path[128], inner[192];
  new_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.npy", dir);
  snprintf(inner, sizeof inner, "%s/keep", path);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  put_file(inner, "x", 1);
  clt_tensor *t = clt_ones(tu_dev[0], CLT_UINT8, CLT_SHAPE(3));
  ck_assert_int_eq(clt_save_npy(path, t), CLT_ERR_IO);
  TU_ASSERT_ERR(CLT_ERR_IO, "clt_save_npy: writing '", "failed: ", "the previous file, if any, is untouched");
  ck_assert_int_eq(entries(dir), 1);
  clt_release(t);
  rm_tree(dir);
}
END_TEST

/* Names are JSON keys: bytes that are not UTF-8 are the caller's error, said before anything is
 * written (not an allocation failure). */
START_TEST(safetensors_names_must_be_utf8) {
  char dir[64], path[128];
  new_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  clt_tensor *t = clt_ones(tu_dev[0], CLT_FLOAT32, CLT_SHAPE(2));
  const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_int_eq(clt_save_safetensors(path, 1, &bad[i], &t), CLT_ERR_INVALID_ARG);
    TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_save_safetensors: names[0] is not UTF-8");
  }
  const char *good[1] = {"gr\xc3\xb6\xc3\x9f" "e.\xf0\x9f\x98\x80"}; /* 2- and 4-byte sequences */
  ck_assert_int_eq(clt_save_safetensors(path, 1, good, &t), CLT_OK);
  clt_tensor_list *l;
  ck_assert_int_eq(clt_load_safetensors(path, NULL, &l), CLT_OK);
  ck_assert_str_eq(clt_tensor_list_name(l, 0), good[0]);
  clt_tensor_list_release(l);
  ck_assert_int_eq(entries(dir), 1);
  clt_release(t);
  rm_tree(dir);
}
END_TEST

/* ---- hostile files ------------------------------------------------------------------------ */

static void hostile(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", hostile_dir, name); }

/* path as a stream: its bytes through a pipe, loaded from /dev/fd/N. */
static int pipe_of(const char *path, char *dev_path, size_t cap) {
  size_t len;
  void *b = slurp(path, &len);
  int fd[2];
  ck_assert_int_eq(pipe(fd), 0);
  ck_assert_uint_lt(len, 60000); /* fits the pipe: no writer process needed */
  ck_assert_int_eq(write(fd[1], b, len), (ssize_t)len);
  close(fd[1]);
  free(b);
  snprintf(dev_path, cap, "/dev/fd/%d", fd[0]);
  return fd[0];
}

typedef enum { FROM_PATH, FROM_BUFFER, FROM_STREAM, NWAYS } way;
static const char *const way_name[NWAYS] = {"path", "buffer", "stream"};

static clt_status load_st(const char *path, way w, clt_device *dev, clt_tensor_list **l) {
  if (w == FROM_PATH) return clt_load_safetensors(path, dev, l);
  if (w == FROM_BUFFER) {
    size_t len;
    void *b = slurp(path, &len);
    clt_status s = clt_parse_safetensors(b, len, dev, l);
    free(b);
    return s;
  }
  char p[64];
  int fd = pipe_of(path, p, sizeof p);
  clt_status s = clt_load_safetensors(p, dev, l);
  close(fd);
  return s;
}

static clt_status load_npy(const char *path, way w, clt_device *dev, clt_tensor **t) {
  if (w == FROM_PATH) return clt_load_npy(path, dev, t);
  if (w == FROM_BUFFER) {
    size_t len;
    void *b = slurp(path, &len);
    clt_status s = clt_parse_npy(b, len, dev, t);
    free(b);
    return s;
  }
  char p[64];
  int fd = pipe_of(path, p, sizeof p);
  clt_status s = clt_load_npy(p, dev, t);
  close(fd);
  return s;
}

START_TEST(hostile_safetensors_are_refused) {
  static const struct { const char *file, *msg; } bad[] = {
      {"overlap", "entry 'b' (bytes 4..12) overlaps 'a', which ends at byte 8"},
      {"shared_bytes", "(bytes 0..8) overlaps '"},
      {"gap", "entry 'b' begins at byte 8, leaving bytes 4..8 after 'a' unused (a gap)"},
      {"gap_at_start", "entry 'a' begins at byte 4, leaving bytes 0..4 at the start unused (a gap)"},
      {"trailing", "bytes follow the data of the last tensor, 'a' (trailing bytes)"},
      {"data_without_tensors", "data bytes belong to no tensor"},
      {"metadata_int", "__metadata__ value 'epoch' is not a string"},
      {"metadata_object", "__metadata__ value 'cfg' is not a string"},
      {"metadata_array", "__metadata__ value 'tags' is not a string"},
      {"metadata_null", "__metadata__ value 'note' is not a string"},
      {"metadata_not_object", "__metadata__ is not an object of strings"},
      {"empty_name", "a tensor has an empty name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    for (int w = 0; w < NWAYS; w++) {
      char path[600], file[64];
      snprintf(file, sizeof file, "%s.safetensors", bad[i].file);
      hostile(path, sizeof path, file);
      clt_tensor_list *l = (clt_tensor_list *)1;
      clt_status s = load_st(path, (way)w, TU_DEV, &l);
      ck_assert_msg(s == CLT_ERR_FORMAT, "%s from a %s: %s: %s", file, way_name[w], clt_status_name(s), clt_last_error());
      ck_assert_ptr_null(l);
      TU_ASSERT_ERR(CLT_ERR_FORMAT, "malformed safetensors file: ", bad[i].msg);
    }
}
END_TEST

/* What the rules allow: tensors listed out of data order (the list keeps the header's order)
 * and empty tensors at any offset of the tiling. */
START_TEST(what_the_rules_allow_loads) {
  for (int w = 0; w < NWAYS; w++) {
    char path[600];
    clt_tensor_list *l;
    hostile(path, sizeof path, "good_unordered.safetensors");
    ck_assert_msg(load_st(path, (way)w, TU_DEV, &l) == CLT_OK, "%s", clt_last_error());
    ck_assert_str_eq(clt_tensor_list_name(l, 0), "b");
    clt_tensor *a = clt_tensor_list_find(l, "a"), *b = clt_tensor_list_find(l, "b");
    tu_assert_values(a, 1, (const int64_t[]){2}, (const double[]){0, 1});
    tu_assert_values(b, 1, (const int64_t[]){1}, (const double[]){2});
    ck_assert_ptr_eq(clt_device_of(a), TU_DEV);
    clt_release(a);
    clt_release(b);
    clt_tensor_list_release(l);
    hostile(path, sizeof path, "good_empty_tensors.safetensors");
    ck_assert_msg(load_st(path, (way)w, TU_DEV, &l) == CLT_OK, "%s", clt_last_error());
    ck_assert_int_eq(clt_tensor_list_size(l), 4);
    ck_assert_str_eq(clt_tensor_list_name(l, 2), "e2");
    clt_tensor *e2 = clt_tensor_list_find(l, "e2");
    tu_assert_values(e2, 2, (const int64_t[]){0, 5}, NULL);
    clt_release(e2);
    clt_tensor_list_release(l);
  }
}
END_TEST

/* Shapes whose sizes (a 0 counted as 1) multiply past 2^63 - 1 are refused everywhere, also
 * when empty (PyTorch refuses (0, 2^62, 2^62) too): a loader names the shape instead of handing
 * ops a tensor whose dim products overflow. */
START_TEST(empty_tensors_with_huge_dims_are_refused) {
  for (int w = 0; w < NWAYS; w++) {
    char path[600];
    clt_tensor *t = NULL;
    hostile(path, sizeof path, "empty_huge_dims.npy");
    ck_assert_int_eq(load_npy(path, (way)w, TU_DEV, &t), CLT_ERR_OVERFLOW);
    ck_assert_ptr_null(t);
    TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "[0,4611686018427387904,4611686018427387904]");
    clt_tensor_list *l = NULL;
    hostile(path, sizeof path, "empty_huge_dims.safetensors");
    ck_assert_int_eq(load_st(path, (way)w, TU_DEV, &l), CLT_ERR_OVERFLOW);
    ck_assert_ptr_null(l);
    TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "[0,4611686018427387904,4611686018427387904]");
  }
}
END_TEST

START_TEST(npy_shape_must_be_a_tuple) {
  for (int w = 0; w < NWAYS; w++) {
    char path[600];
    hostile(path, sizeof path, "shape_int.npy");
    clt_tensor *t = (clt_tensor *)1;
    ck_assert_int_eq(load_npy(path, (way)w, TU_DEV, &t), CLT_ERR_FORMAT);
    ck_assert_ptr_null(t);
    TU_ASSERT_ERR(CLT_ERR_FORMAT, "'shape' (n) is a number, not a tuple");
  }
}
END_TEST

/* A 131-byte file whose header claims 16 GiB is refused from every source (the child process
 * below shows no memory of that size is taken for it). */
START_TEST(claims_beyond_the_input_are_refused) {
  for (int w = 0; w < NWAYS; w++) {
    char path[600];
    hostile(path, sizeof path, "claims_16gib.npy");
    clt_tensor *t = (clt_tensor *)1;
    ck_assert_int_eq(load_npy(path, (way)w, TU_DEV, &t), CLT_ERR_FORMAT);
    ck_assert_ptr_null(t);
    if (SIZE_MAX > 0xffffffffu)
      TU_ASSERT_ERR(CLT_ERR_FORMAT, "the .npy data is truncated: 17179869184 bytes expected, 3 present");
    else /* 32-bit: no such size at all */
      TU_ASSERT_ERR(CLT_ERR_FORMAT, "the data size of 4294967296 elements of float32 overflows");
  }
}
END_TEST

/* ---- memory the input cannot justify (child processes with a cap) --------------------------- */

#define CAP_MB 64

/* Caps this process's allocations CAP_MB above what it has now: RLIMIT_AS, or under ASan
 * (which reserves terabytes of shadow) its max_allocation_size_mb, set by the parent. */
static int cap_memory(void) {
#ifndef UNDER_ASAN
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (!f || fscanf(f, "%lu", &pages) != 1) CHILD_FAIL("cannot read /proc/self/statm");
  fclose(f);
  rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)CAP_MB << 20);
  struct rlimit rl = {lim, lim};
  if (setrlimit(RLIMIT_AS, &rl) != 0) CHILD_FAIL("setrlimit");
#endif
  return 0;
}

/* The load must fail with CLT_ERR_FORMAT (not CLT_ERR_OOM: memory for the claim was asked for)
 * within a second. */
#define EXPECT_FORMAT_FAST(call, what)                                                         \
  do {                                                                                         \
    double t0 = clt__now();                                                                    \
    clt_status s_ = (call);                                                                    \
    double dt_ = clt__now() - t0;                                                              \
    if (s_ != CLT_ERR_FORMAT) CHILD_FAIL("%s: %s instead of CLT_ERR_FORMAT", what, clt_status_name(s_)); \
    if (dt_ > 1.0) CHILD_FAIL("%s took %.2f s", what, dt_);                                    \
    fprintf(stderr, "%s: %.3f s: %s\n", what, dt_, clt_last_error());                          \
  } while (0)

static int capped_loads(void) {
  char path[600], dir[64], p[128];
  hostile(path, sizeof path, "claims_16gib.npy");
  size_t len;
  FILE *f = fopen(path, "rb");
  unsigned char buf[256];
  if (!f) CHILD_FAIL("open %s", path);
  len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  /* a garbage file larger than the cap (sparse: nothing written), in a directory of .npy files
   * and as a safetensors file */
  snprintf(dir, sizeof dir, "/tmp/clt-files-cap-%ld", (long)getpid());
  mkdir(dir, 0700);
  snprintf(p, sizeof p, "%s/x.npy", dir);
  f = fopen(p, "wb");
  if (!f || fputs("garbage!", f) < 0 || fseek(f, (long)4 * CAP_MB << 20, SEEK_SET) != 0 || fputc('x', f) == EOF)
    CHILD_FAIL("garbage file");
  fclose(f);
  if (cap_memory() != 0) return 1;
  clt_device *host;
  if (clt_device_open("host", &host) != CLT_OK) CHILD_FAIL("open");
  int fd[2];
  if (pipe(fd) != 0 || write(fd[1], buf, len) != (ssize_t)len) CHILD_FAIL("pipe");
  close(fd[1]);
  char stream[64];
  snprintf(stream, sizeof stream, "/dev/fd/%d", fd[0]);
  clt_tensor *t = NULL;
  clt_tensor_list *l = NULL;
  EXPECT_FORMAT_FAST(clt_load_npy(stream, host, &t), "a 131-byte .npy stream claiming 16 GiB");
  close(fd[0]);
  EXPECT_FORMAT_FAST(clt_parse_npy(buf, len, host, &t), "the same bytes from a buffer");
  EXPECT_FORMAT_FAST(clt_load_npy("/dev/zero", host, &t), ".npy from /dev/zero");
  EXPECT_FORMAT_FAST(clt_load_safetensors("/dev/zero", host, &l), "safetensors from /dev/zero");
  EXPECT_FORMAT_FAST(clt_load_npy_dir(dir, host, &l), "a directory holding 256 MiB of garbage as x.npy");
  EXPECT_FORMAT_FAST(clt_load_safetensors(p, host, &l), "256 MiB of garbage as safetensors");
  EXPECT_FORMAT_FAST(clt_load_npy(p, host, &t), "256 MiB of garbage as .npy");
  clt_device_release(host);
  unlink(p);
  rmdir(dir);
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(void);
} scenarios[] = {{"capped_loads", capped_loads}};

START_TEST(loads_never_take_memory_the_input_lacks) {
  pid_t p = fork();
  if (p == 0) {
    char opts[1024];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(opts, sizeof opts, "%s%smax_allocation_size_mb=%d:allocator_may_return_null=1", old ? old : "",
             old ? ":" : "", CAP_MB);
    setenv("ASAN_OPTIONS", opts, 1);
    /* OpenBLAS's worker threads take their buffers lazily and spin when that fails under the cap */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execl(self, self, "--scenario", scenarios[_i].name, (char *)NULL);
    _exit(scenarios[_i].fn()); /* no exec (a cross build under qemu-user): run it in this child */
  }
  int status = 0;
  ck_assert_int_eq(waitpid(p, &status, 0), p);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "scenario %s failed (status %d; see its stderr)",
                scenarios[_i].name, status);
}
END_TEST

/* ---- sizes and byte order ----------------------------------------------------------------- */

/* A view of 2^62 float32 elements has 2^64 bytes, which wraps size_t to 0: every writer must
 * refuse it rather than allocate 0 bytes and copy 2^64 into them. */
START_TEST(byte_counts_that_overflow_are_refused) {
  clt_device *dev = TU_DEV;
  char dir[64], path[128];
  new_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/big", dir);
  clt_tensor *one = clt_ones(dev, CLT_FLOAT32, CLT_SHAPE(1, 1));
  clt_tensor *big = clt_expand(one, 2, (const int64_t[]){(int64_t)1 << 31, (int64_t)1 << 31});
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(clt_save_npy(path, big), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_save_npy: 4611686018427387904 elements of float32 overflow the address space");
  void *buf = NULL;
  size_t len = 0;
  ck_assert_int_eq(clt_format_npy(big, &buf, &len), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_format_npy: ", "overflow the address space");
  const char *names[1] = {"big"};
  ck_assert_int_eq(clt_save_safetensors(path, 1, names, &big), CLT_ERR_OVERFLOW);
  TU_ASSERT_ERR(CLT_ERR_OVERFLOW, "clt_save_safetensors: ", "overflow the address space");
  ck_assert_int_eq(entries(dir), 0);
  clt_release(big);
  clt_release(one);
  rm_tree(dir);
}
END_TEST

/* The conversion a big-endian host makes, run here by naming the host's order: values written
 * little-endian (as files hold them) come out as the big-endian host stores them, and back. */
START_TEST(byte_order_for_big_endian_hosts) {
  const uint8_t le[] = {0x04, 0x03, 0x02, 0x01, 0xf8, 0xff, 0xff, 0xff};     /* int32 0x01020304, -8 */
  const uint8_t be[] = {0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xf8};
  const uint8_t le8[] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f};                       /* float64 1.5 */
  const uint8_t be8[] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
  uint8_t b[8];
  memcpy(b, le, 8);
  clt__byte_order(b, 8, 4, true, false);
  ck_assert(memcmp(b, be, 8) == 0);
  clt__byte_order(b, 8, 4, false, true); /* the save direction on that host */
  ck_assert(memcmp(b, le, 8) == 0);
  memcpy(b, le8, 8);
  clt__byte_order(b, 8, 8, true, false);
  ck_assert(memcmp(b, be8, 8) == 0);
  clt__byte_order(b, 8, 1, true, false); /* bytes have no order */
  ck_assert(memcmp(b, be8, 8) == 0);
  memcpy(b, le, 8);
  clt__byte_order(b, 8, 4, true, true); /* this host: nothing to do */
  ck_assert(memcmp(b, le, 8) == 0);
  /* what this host is, by another route */
  const uint32_t probe = 0x01020304;
  ck_assert_int_eq(clt__host_little(), ((const uint8_t *)&probe)[0] == 0x04);
}
END_TEST

/* ---- OpenCL: the kernel cache, kernel directories, tuning files ----------------------------- */

static const char *kernel_files[] = {"lib/optable.h", "kernels/common.clh", "kernels/cast.cl",
                                     "kernels/copy.cl", "kernels/ew_binary.cl", "kernels/ew_grad.cl",
                                     "kernels/ew_unary.cl", "kernels/gemm.cl", "kernels/index.cl",
                                     "kernels/loss.cl", "kernels/optim.cl", "kernels/random.cl",
                                     "kernels/reduce.cl"};

/* A kernel directory in dir: the sources, with every "from" in them replaced by "to" (an
 * attacker's change), or as they are (from NULL). */
static void kernel_dir(const char *dir, const char *from, const char *to) {
  const char *root = getenv("CLT_KERNEL_SOURCES");
  ck_assert_ptr_nonnull(root);
  bool changed = from == NULL;
  for (size_t i = 0; i < sizeof kernel_files / sizeof *kernel_files; i++) {
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/%s", root, kernel_files[i]);
    snprintf(dst, sizeof dst, "%s/%s", dir, strrchr(kernel_files[i], '/') + 1);
    size_t len;
    char *text = slurp(src, &len), *hit;
    text[len] = '\0';
    FILE *f = fopen(dst, "wb");
    ck_assert_ptr_nonnull(f);
    char *p = text;
    while (from && (hit = strstr(p, from))) {
      fwrite(p, 1, (size_t)(hit - p), f);
      fputs(to, f);
      p = hit + strlen(from);
      changed = true;
    }
    fputs(p, f);
    fclose(f);
    free(text);
  }
  ck_assert_msg(changed, "'%s' is in no kernel source", from);
}

/* The cache entry of family fam ("copy.cl") in dir (its path into out); false when there is none. */
static bool entry_of(const char *dir, const char *fam, char *out, size_t cap) {
  DIR *d = opendir(dir);
  bool found = false;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strncmp(e->d_name, fam, strlen(fam)) == 0 && e->d_name[strlen(fam)] == '-') {
      if (snprintf(out, cap, "%s/%s", dir, e->d_name) < (int)cap) found = true; /* a cut path is no entry */
    }
  if (d) closedir(d);
  return found;
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  void *b = slurp(from, &len);
  put_file(to, b, len);
  free(b);
}

/* fill 7 into 5 int32 on a fresh handle: the values, or NULL's error */
static void full_is_7(void) {
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *t = clt_full(d, CLT_INT32, CLT_SHAPE(5), 7);
  ck_assert_msg(t != NULL, "%s", clt_last_error());
  tu_assert_values(t, 1, (const int64_t[]){5}, (const double[]){7, 7, 7, 7, 7});
  clt_release(t);
  clt_device_release(d);
  ck_assert_int_eq(clt_last_status(), CLT_OK);
}

static void builds(const char *what) {
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_scope_begin();
  clt_tensor *t = strcmp(what, "copy") == 0 ? clt_full(d, CLT_INT32, CLT_SHAPE(5), 7)
                                            : clt_cast(clt_ones(d, CLT_INT32, CLT_SHAPE(3)), CLT_FLOAT32);
  ck_assert_msg(t != NULL, "%s", clt_last_error());
  clt_scope_end();
  clt_device_release(d);
}

static char *saved_env[3];
static const char *const env_names[3] = {"CLT_CACHE_DIR", "CLT_BINARY_CACHE", "CLT_KERNEL_DIR"};

static void env_save(void) {
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(env_names[i]);
    saved_env[i] = v ? strdup(v) : NULL;
  }
}

static void env_restore(void) {
  for (int i = 0; i < 3; i++) {
    if (saved_env[i]) setenv(env_names[i], saved_env[i], 1);
    else unsetenv(env_names[i]);
    free(saved_env[i]);
    saved_env[i] = NULL;
  }
}

/* An entry dropped under another entry's name is a miss and is rebuilt: one built from sources
 * where fill writes 2x the value (wrong results if run), and one of another family (which would
 * fail every run with CL_INVALID_KERNEL_NAME). */
START_TEST(cache_entries_are_bound_to_their_key) {
  env_save();
  char cache[64], evil[64], real[600], planted[600], other[600];
  new_dir(cache, sizeof cache);
  new_dir(evil, sizeof evil);
  setenv("CLT_CACHE_DIR", cache, 1);
  setenv("CLT_BINARY_CACHE", "1", 1);
  unsetenv("CLT_KERNEL_DIR");
  builds("copy");
  builds("cast");
  ck_assert(entry_of(cache, "copy.cl", real, sizeof real));
  ck_assert(entry_of(cache, "cast.cl", other, sizeof other));
  /* the attacker's build: a fill that writes value + value, cached under its own name */
  kernel_dir(evil, "dst[offset + i] = value;", "dst[offset + i] = value + value;");
  setenv("CLT_KERNEL_DIR", evil, 1);
  char evil_cache[600];
  snprintf(evil_cache, sizeof evil_cache, "%s/cache", evil);
  mkdir(evil_cache, 0700);
  setenv("CLT_CACHE_DIR", evil_cache, 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *t = clt_full(d, CLT_INT32, CLT_SHAPE(2), 7);
  tu_assert_values(t, 1, (const int64_t[]){2}, (const double[]){14, 14}); /* the change is real */
  clt_release(t);
  clt_device_release(d);
  ck_assert(entry_of(evil_cache, "copy.cl", planted, sizeof planted));
  unsetenv("CLT_KERNEL_DIR");
  setenv("CLT_CACHE_DIR", cache, 1);
  const char *plants[2] = {planted, other};
  for (int k = 0; k < 2; k++) {
    copy_file(plants[k], real);
    full_is_7();
    /* rewritten from the right build: a third handle reads it and is right again */
    size_t a, b;
    void *now = slurp(real, &a), *bad = slurp(plants[k], &b);
    ck_assert(a != b || memcmp(now, bad, a) != 0);
    free(now);
    free(bad);
    full_is_7();
  }
  rm_tree(cache);
  rm_tree(evil);
  env_restore();
}
END_TEST

/* A cache directory another user can write (or that is not this user's) is not used: nothing
 * is written there, and an entry planted there is not run. */
START_TEST(cache_dirs_others_can_write_are_not_used) {
  env_save();
  char good[64], open_dir[64], evil[64], real[600], planted[600], name_there[700];
  new_dir(good, sizeof good);
  new_dir(open_dir, sizeof open_dir);
  new_dir(evil, sizeof evil);
  setenv("CLT_BINARY_CACHE", "1", 1);
  unsetenv("CLT_KERNEL_DIR");
  setenv("CLT_CACHE_DIR", good, 1);
  builds("copy");
  ck_assert(entry_of(good, "copy.cl", real, sizeof real));
  kernel_dir(evil, "dst[offset + i] = value;", "dst[offset + i] = value + value;");
  setenv("CLT_KERNEL_DIR", evil, 1);
  char evil_cache[600];
  snprintf(evil_cache, sizeof evil_cache, "%s/cache", evil);
  setenv("CLT_CACHE_DIR", evil_cache, 1);
  builds("copy");
  ck_assert(entry_of(evil_cache, "copy.cl", planted, sizeof planted));
  unsetenv("CLT_KERNEL_DIR");
  /* the evil entry under the real name, in a directory everyone can write */
  snprintf(name_there, sizeof name_there, "%s/%s", open_dir, strrchr(real, '/') + 1);
  copy_file(planted, name_there);
  ck_assert_int_eq(chmod(open_dir, 0777), 0);
  setenv("CLT_CACHE_DIR", open_dir, 1);
  full_is_7();
  ck_assert_int_eq(entries(open_dir), 1); /* neither read nor replaced */
  ck_assert_int_eq(chmod(open_dir, 0700), 0);
  remove(name_there);
  builds("cast");
  ck_assert(entry_of(open_dir, "cast.cl", planted, sizeof planted)); /* 0700: used again */
  if (geteuid() == 0) { /* root can hand the directory to someone else */
    rm_tree(open_dir);
    new_dir(open_dir, sizeof open_dir);
    ck_assert_int_eq(chown(open_dir, 12345, 12345), 0);
    setenv("CLT_CACHE_DIR", open_dir, 1);
    builds("cast");
    ck_assert_int_eq(entries(open_dir), 0);
  }
  rm_tree(good);
  rm_tree(open_dir);
  rm_tree(evil);
  env_restore();
}
END_TEST

START_TEST(kernel_dirs_must_be_private_and_text) {
  env_save();
  char dir[64], path[600];
  new_dir(dir, sizeof dir);
  kernel_dir(dir, NULL, NULL);
  setenv("CLT_BINARY_CACHE", "0", 1);
  setenv("CLT_KERNEL_DIR", dir, 1);
  clt_device *d;
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  clt_tensor *t = clt_full(d, CLT_UINT8, CLT_SHAPE(3), 1); /* the copy family, from dir */
  ck_assert_msg(t != NULL, "%s", clt_last_error());
  clt_release(t);
  clt_device_release(d);
  ck_assert_int_eq(chmod(dir, 0777), 0);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  ck_assert_ptr_null(clt_full(d, CLT_UINT8, CLT_SHAPE(3), 1));
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_full: $CLT_KERNEL_DIR: '", "' can be written by other users (mode 777)",
                "kernels from a directory another user can change are refused");
  clt_device_release(d);
  ck_assert_int_eq(chmod(dir, 0700), 0);
  /* a NUL byte in a source */
  snprintf(path, sizeof path, "%s/copy.cl", dir);
  FILE *f = fopen(path, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 10, SEEK_SET);
  fputc('\0', f);
  fclose(f);
  ck_assert_int_eq(clt_device_open(clt_device_spec(tu_cl()), &d), CLT_OK);
  ck_assert_ptr_null(clt_full(d, CLT_UINT8, CLT_SHAPE(3), 1));
  TU_ASSERT_ERR(CLT_ERR_FORMAT, "clt_full: $CLT_KERNEL_DIR: '", "/copy.cl' holds a NUL byte at offset 10");
  clt_device_release(d);
  rm_tree(dir);
  env_restore();
}
END_TEST

#ifdef CLT_HAVE_CLBLAST
static clt_status open_tuned(const char *text, clt_device **out) {
  char path[] = "/tmp/clt-files-tuning-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  setenv("CLT_CLBLAST_TUNING", path, 1);
  clt_status st = clt_device_open(clt_device_spec(tu_cl()), out);
  unsetenv("CLT_CLBLAST_TUNING");
  unlink(path);
  return st;
}

/* Numbers out of range are refused at open, before CLBlast is told anything (so nothing of
 * them outlives the test: CLBlast keeps parameters per device for the process). */
START_TEST(tuning_numbers_are_range_checked) {
  static const char generic[] = "GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 "
                                "STRM=0 STRN=0 VWM=1 VWN=1";
  static const struct { const char *prec, *params, *msg; } bad[] = {
      {"4294967328", generic, "precision '4294967328' is not 32 or 64"},
      {"18446744073709551648", generic, "precision '18446744073709551648' is not 32 or 64"},
      {"32", "GEMMK=0 KREG=1 KWG=0 KWI=2 MDIMA=8 MDIMC=8 MWG=32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 STRM=0 STRN=0 VWM=1 VWN=1",
       "parameter KWG is 0; tile sizes, work-group dimensions and vector widths must be at least 1"},
      {"32", "GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=4294967328 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 STRM=0 "
             "STRN=0 VWM=1 VWN=1", "parameter MWG has value '4294967328', not a non-negative integer up to"},
      {"32", "GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=+32 NDIMB=8 NDIMC=8 NWG=32 SA=0 SB=0 STRM=0 "
             "STRN=0 VWM=1 VWN=1", "parameter MWG has value '+32'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[512];
    snprintf(text, sizeof text, "*\t*\tXgemm\t%s\t%s\n", bad[i].prec, bad[i].params);
    clt_device *d = (clt_device *)1;
    ck_assert_int_eq(open_tuned(text, &d), CLT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    TU_ASSERT_ERR(CLT_ERR_FORMAT, "clt_device_open: $CLT_CLBLAST_TUNING /tmp/clt-files-tuning-", bad[i].msg);
  }
}
END_TEST
#endif

static Suite *suite(void) {
  Suite *s = suite_create("files");
  TCase *tc = tu_tcase("save");
  tcase_add_test(tc, saves_never_follow_planted_links);
  tcase_add_test(tc, saves_never_block_on_planted_fifos);
  tcase_add_test(tc, a_link_at_the_destination_is_replaced);
  tcase_add_test(tc, resaves_keep_the_permission_bits);
  tcase_add_test(tc, the_longest_legal_name_saves);
  tcase_add_test(tc, dead_processes_temporaries_are_removed);
  tcase_add_test(tc, failed_renames_leave_no_temporary);
  tcase_add_test(tc, safetensors_names_must_be_utf8);
  suite_add_tcase(s, tc);
  tc = tu_tcase("hostile");
  TU_DEVICES(tc, hostile_safetensors_are_refused);
  TU_DEVICES(tc, what_the_rules_allow_loads);
  TU_DEVICES(tc, empty_tensors_with_huge_dims_are_refused);
  TU_DEVICES(tc, npy_shape_must_be_a_tuple);
  TU_DEVICES(tc, claims_beyond_the_input_are_refused);
  tcase_add_loop_test(tc, loads_never_take_memory_the_input_lacks, 0, (int)(sizeof scenarios / sizeof *scenarios));
  TU_DEVICES(tc, byte_counts_that_overflow_are_refused);
  tcase_add_test(tc, byte_order_for_big_endian_hosts);
  suite_add_tcase(s, tc);
  if (tu_cl()) {
    tc = tu_tcase("opencl");
    tcase_add_test(tc, cache_entries_are_bound_to_their_key);
    tcase_add_test(tc, cache_dirs_others_can_write_are_not_used);
    tcase_add_test(tc, kernel_dirs_must_be_private_and_text);
#ifdef CLT_HAVE_CLBLAST
    tcase_add_test(tc, tuning_numbers_are_range_checked);
#endif
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(int argc, char **argv) {
  self = argv[0];
  const char *fx = getenv("CLT_FIXTURES");
  snprintf(hostile_dir, sizeof hostile_dir, "%s/../hostile", fx ? fx : "tests/fixtures");
  if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
      if (strcmp(argv[2], scenarios[i].name) == 0) _exit(scenarios[i].fn()); /* no library destructors under the cap */
    return 2;
  }
  return tu_main(suite, TU_FEW_KERNELS);
}
