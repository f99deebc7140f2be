/* .npy load and save against files NumPy wrote (tests/fixtures/make_npy.py), and a corpus of
 * broken files. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "tu.h"

static char fixture_dir[512];

static void fixture(char *buf, size_t cap, const char *sub, const char *name) {
  snprintf(buf, cap, "%s/npy/%s/%s", fixture_dir, sub, name);
}

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

/* The generator's value of element i for a NumPy type code. */
static double value(char kind, int64_t i) {
  switch (kind) {
    case 'f': return (double)i * 1.5 - 2;
    case 'i': return (double)i * 7 - 10;
    case 'u': return (double)(i * 40);
    default: return (double)(i % 2);
  }
}

typedef struct {
  const char *file;
  clt_dtype dt;
  int ndim;
  int64_t shape[3];
} good_case;

static const good_case goods[] = {
    {"f4le_c.npy", CLT_FLOAT32, 2, {2, 3}}, {"f4le_f.npy", CLT_FLOAT32, 2, {2, 3}},
    {"f4be_c.npy", CLT_FLOAT32, 2, {2, 3}}, {"f4be_f.npy", CLT_FLOAT32, 2, {2, 3}},
    {"f8le_c.npy", CLT_FLOAT64, 2, {2, 3}}, {"f8le_f.npy", CLT_FLOAT64, 2, {2, 3}},
    {"f8be_c.npy", CLT_FLOAT64, 2, {2, 3}}, {"f8be_f.npy", CLT_FLOAT64, 2, {2, 3}},
    {"i4le_c.npy", CLT_INT32, 2, {2, 3}},   {"i4le_f.npy", CLT_INT32, 2, {2, 3}},
    {"i4be_c.npy", CLT_INT32, 2, {2, 3}},   {"i4be_f.npy", CLT_INT32, 2, {2, 3}},
    {"i8le_c.npy", CLT_INT64, 2, {2, 3}},   {"i8le_f.npy", CLT_INT64, 2, {2, 3}},
    {"i8be_c.npy", CLT_INT64, 2, {2, 3}},   {"i8be_f.npy", CLT_INT64, 2, {2, 3}},
    {"u1le_c.npy", CLT_UINT8, 2, {2, 3}},   {"u1le_f.npy", CLT_UINT8, 2, {2, 3}},
    {"b1le_c.npy", CLT_BOOL, 2, {2, 3}},    {"b1le_f.npy", CLT_BOOL, 2, {2, 3}},
    {"f4le_3d_f.npy", CLT_FLOAT32, 3, {2, 3, 4}},
    {"f8le_0d.npy", CLT_FLOAT64, 0, {0}},   {"i8le_1d.npy", CLT_INT64, 1, {5}},
    {"f4le_empty.npy", CLT_FLOAT32, 2, {0, 3}},
    {"i4le_v2.npy", CLT_INT32, 2, {2, 3}},  {"i4le_v3.npy", CLT_INT32, 2, {2, 3}},
    {"f2le_c.npy", CLT_FLOAT16, 2, {2, 3}}, {"f2le_f.npy", CLT_FLOAT16, 2, {2, 3}},
    {"f2be_c.npy", CLT_FLOAT16, 2, {2, 3}}, {"f2be_f.npy", CLT_FLOAT16, 2, {2, 3}},
};
#define NGOOD (sizeof goods / sizeof *goods)

START_TEST(loads_every_numpy_fixture) {
  clt_device *dev = TU_DEV;
  for (size_t k = 0; k < NGOOD; k++) {
    const good_case *g = &goods[k];
    char path[600];
    fixture(path, sizeof path, "good", g->file);
    clt_tensor *t = NULL;
    ck_assert_msg(clt_load_npy(path, dev, &t) == CLT_OK, "%s: %s", g->file, clt_last_error());
    ck_assert_int_eq(clt_dtype_of(t), g->dt);
    ck_assert_ptr_eq(clt_device_of(t), dev);
    ck_assert(clt_is_contiguous(t));
    int64_t n = clt_numel(t);
    double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
    for (int64_t i = 0; i < n; i++) want[i] = value(g->file[0], i);
    tu_assert_values(t, g->ndim, g->shape, want);
    free(want);
    clt_release(t);
    /* the same bytes through the in-memory parser */
    size_t len;
    void *buf = slurp(path, &len);
    ck_assert_int_eq(clt_parse_npy(buf, len, dev, &t), CLT_OK);
    ck_assert_int_eq(clt_numel(t), n);
    clt_release(t);
    free(buf);
  }
}
END_TEST

/* clt writes byte for byte what NumPy writes for C-order little-endian arrays. */
START_TEST(saves_what_numpy_saves) {
  clt_device *dev = TU_DEV;
  const char *same[] = {"f4le_c.npy", "f8le_c.npy", "i4le_c.npy", "i8le_c.npy", "u1le_c.npy",
                        "b1le_c.npy", "f8le_0d.npy", "i8le_1d.npy", "f4le_empty.npy", "f2le_c.npy"};
  for (size_t k = 0; k < sizeof same / sizeof *same; k++) {
    char path[600];
    fixture(path, sizeof path, "good", same[k]);
    clt_tensor *t;
    ck_assert_int_eq(clt_load_npy(path, dev, &t), CLT_OK);
    size_t want_len, got_len;
    void *want = slurp(path, &want_len), *got = NULL;
    ck_assert_int_eq(clt_format_npy(t, &got, &got_len), CLT_OK);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0, "%s differs from NumPy's", same[k]);
    clt_free(got);
    free(want);
    clt_release(t);
  }
}
END_TEST

static void temp_path(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/clt-npy-XXXXXX");
  int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  close(fd);
}

START_TEST(save_load_round_trip_of_views) {
  clt_device *dev = TU_DEV;
  char path[64];
  temp_path(path, sizeof path);
  clt_scope_begin();
  clt_tensor *x = clt_reshape(clt_arange(dev, CLT_FLOAT64, 0, 24, 1), CLT_SHAPE(4, 6));
  clt_tensor *v = clt_slice(clt_transpose(x, 0, 1), 0, 1, 6, 2); /* [3,4]: columns 1, 3, 5 */
  ck_assert_int_eq(clt_save_npy(path, v), CLT_OK);
  clt_tensor *back;
  ck_assert_int_eq(clt_load_npy(path, NULL, &back), CLT_OK); /* NULL: the host */
  ck_assert_int_eq(clt_device_type_of(clt_device_of(back)), CLT_DEVICE_HOST);
  double want[12];
  for (int i = 0, n = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) want[n++] = j * 6 + 1 + 2 * i;
  tu_assert_values(back, 2, (const int64_t[]){3, 4}, want);
  clt_scope_end();
  remove(path);
}
END_TEST

START_TEST(failed_saves_leave_the_old_file) {
  char path[64];
  temp_path(path, sizeof path);
  clt_tensor *a = clt_ones(tu_dev[0], CLT_INT32, CLT_SHAPE(3));
  ck_assert_int_eq(clt_save_npy(path, a), CLT_OK);
  size_t len0;
  void *before = slurp(path, &len0);
  clt_tensor *b = clt_zeros(tu_dev[0], CLT_INT32, CLT_SHAPE(300));
  for (long n = 1; n <= 3; n++) { /* each allocation of the save fails in turn */
    clt__fault_reset();
    clt__fault_arm(n, 0);
    clt_status st = clt_save_npy(path, b);
    bool fired = clt__fault_fired();
    clt__fault_reset();
    if (!fired) break;
    ck_assert_int_eq(st, CLT_ERR_OOM);
    clt_clear_error();
    size_t len1;
    void *after = slurp(path, &len1);
    ck_assert(len1 == len0 && memcmp(before, after, len0) == 0);
    free(after);
  }
  ck_assert_int_eq(clt_save_npy("/nonexistent-dir/x.npy", b), CLT_ERR_IO);
  TU_ASSERT_ERR(CLT_ERR_IO, "clt_save_npy: cannot create a temporary file beside '/nonexistent-dir/x.npy'",
                "No such file or directory");
  ck_assert_int_eq(clt_save_npy(path, NULL), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "clt_save_npy: argument t is NULL");
  ck_assert_int_eq(clt_save_npy(NULL, b), CLT_ERR_INVALID_ARG);
  TU_ASSERT_ERR(CLT_ERR_INVALID_ARG, "argument path is NULL");
  free(before);
  clt_release(a);
  clt_release(b);
  remove(path);
}
END_TEST

typedef struct {
  const char *file;
  clt_status st;
  const char *msg;
} bad_case;

static const bad_case bads[] = {
    {"wrong_magic.npy", CLT_ERR_FORMAT, "not a .npy file"},
    {"bad_version.npy", CLT_ERR_FORMAT, "format version 4.0 is not supported"},
    {"truncated_prefix.npy", CLT_ERR_FORMAT, "not a .npy file"},
    {"truncated_header.npy", CLT_ERR_FORMAT, "header length 118 exceeds"},
    {"header_longer_than_file.npy", CLT_ERR_FORMAT, "header length 60000 exceeds"},
    {"short_data.npy", CLT_ERR_FORMAT, "truncated: 24 bytes expected, 19 present"},
    {"negative_shape.npy", CLT_ERR_FORMAT, "a 'shape' entry is not a non-negative integer"},
    {"huge_shape.npy", CLT_ERR_FORMAT, "overflows"},
    {"shape_overflows.npy", CLT_ERR_FORMAT, "a 'shape' entry overflows"},
    {"too_many_dims.npy", CLT_ERR_UNSUPPORTED, "more than 8 dims"},
    {"unknown_dtype.npy", CLT_ERR_DTYPE, "dtype '<c8' has no clt equivalent"},
    {"object_dtype.npy", CLT_ERR_DTYPE, "object arrays ('|O') need pickle and are refused"},
    {"structured_dtype.npy", CLT_ERR_DTYPE, "structured dtypes are not supported"},
    {"no_byte_order.npy", CLT_ERR_FORMAT, "dtype '|f4' needs a byte order"},
    {"missing_shape.npy", CLT_ERR_FORMAT, "is missing"},
    {"repeated_key.npy", CLT_ERR_FORMAT, "unexpected or repeated key 'descr'"},
    {"unknown_key.npy", CLT_ERR_FORMAT, "unexpected or repeated key 'x'"},
    {"bad_bool.npy", CLT_ERR_FORMAT, "'fortran_order' is not True or False"},
    {"unterminated_string.npy", CLT_ERR_FORMAT, "'descr' is not a short string"},
    {"not_a_dict.npy", CLT_ERR_FORMAT, "it does not start with '{'"},
    {"trailing_text.npy", CLT_ERR_FORMAT, "text follows the closing '}'"},
    {"shape_not_tuple.npy", CLT_ERR_FORMAT, "'shape' is not a tuple"},
    {"empty.npy", CLT_ERR_FORMAT, "not a .npy file"},
};

START_TEST(broken_files_give_clear_errors) {
  for (size_t k = 0; k < sizeof bads / sizeof *bads; k++) {
    const bad_case *b = &bads[k];
    char path[600];
    fixture(path, sizeof path, "bad", b->file);
    clt_tensor *t = (clt_tensor *)1;
    clt_status st = clt_load_npy(path, TU_DEV, &t);
    ck_assert_msg(st == b->st, "%s: %s instead of %s: %s", b->file, clt_status_name(st), clt_status_name(b->st),
                  clt_last_error());
    ck_assert_ptr_null(t);
    TU_ASSERT_ERR(b->st, "clt_load_npy: ", b->msg);
    size_t len;
    void *buf = slurp(path, &len);
    ck_assert_int_eq(clt_parse_npy(buf, len, TU_DEV, &t), b->st);
    TU_ASSERT_ERR(b->st, "clt_parse_npy: ", b->msg);
    free(buf);
  }
  clt_tensor *t;
  ck_assert_int_eq(clt_load_npy("/nonexistent.npy", NULL, &t), CLT_ERR_IO);
  TU_ASSERT_ERR(CLT_ERR_IO, "clt_load_npy: cannot open '/nonexistent.npy' for reading: No such file");
  ck_assert_int_eq(clt_load_npy("/tmp", NULL, &t), CLT_ERR_IO);
  clt_clear_error();
  ck_assert_int_eq(clt_parse_npy(NULL, 5, NULL, &t), CLT_ERR_INVALID_ARG);
  clt_clear_error();
}
END_TEST

/* Every prefix of a good file and every single-byte change of its header: an error or a
 * tensor, never a crash (ASan and valgrind runs check the memory side). */
START_TEST(prefixes_and_mutations_never_crash) {
  const char *files[] = {"f8be_f.npy", "i4le_v3.npy", "f4le_3d_f.npy"};
  for (size_t f = 0; f < 3; f++) {
    char path[600];
    fixture(path, sizeof path, "good", files[f]);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    clt_tensor *t;
    for (size_t n = 0; n < len; n++) {
      ck_assert_int_eq(clt_parse_npy(buf, n, NULL, &t), CLT_ERR_FORMAT);
      clt_clear_error();
    }
    const unsigned char subst[] = {0, ' ', '\'', ',', '(', ')', '9', 0xff, '-', ':'};
    for (size_t i = 0; i < 140 && i < len; i++) {
      unsigned char keep = buf[i];
      for (size_t s = 0; s < sizeof subst; s++) {
        buf[i] = subst[s];
        if (clt_parse_npy(buf, len, NULL, &t) == CLT_OK) clt_release(t);
        clt_clear_error();
      }
      buf[i] = keep;
    }
    free(buf);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("npy");
  TCase *tc = tu_tcase("npy");
  TU_DEVICES(tc, loads_every_numpy_fixture);
  TU_DEVICES(tc, saves_what_numpy_saves);
  TU_DEVICES(tc, save_load_round_trip_of_views);
  tcase_add_test(tc, failed_saves_leave_the_old_file);
  TU_DEVICES(tc, broken_files_give_clear_errors);
  tcase_add_test(tc, prefixes_and_mutations_never_crash);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *dir = getenv("CLT_FIXTURES");
  snprintf(fixture_dir, sizeof fixture_dir, "%s", dir ? dir : "tests/fixtures");
  return tu_main(suite, TU_FEW_KERNELS);
}
