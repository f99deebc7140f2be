/* CLBlast's kernel parameters, set per device at open with CLBlastOverrideParameters.
 *
 * CLBlast picks its kernels' tile sizes from a database compiled into it; a device it does not
 * know (PoCL on this CPU, for one) gets generic values: SGEMM at 12-33 GFLOP/s on PoCL here,
 * 16-79 with the values below (docs/PERFORMANCE.md). Entries name the device and driver exactly, as CL_DEVICE_NAME and
 * CL_DRIVER_VERSION report them ("*" matches any), the CLBlast kernel ("Xgemm", "XgemmDirect",
 * ...), the precision (32 or 64) and every parameter of that kernel:
 *
 *   device <TAB> driver <TAB> kernel <TAB> precision <TAB> NAME=VALUE NAME=VALUE ...
 *
 * Built-in entries (below, measured with CLBlast's own tuners, see tools/clblast-tune.sh) apply
 * only to the CLBlast major.minor version they were tuned with. $CLT_CLBLAST_TUNING names a file
 * of further entries in the same form ('#' starts a comment), which take precedence; "none"
 * turns every override off. Entries apply to the device for the whole process: CLBlast keeps
 * parameters per cl_device_id, the application's own CLBlast calls on that device included. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cl_internal.h"

#ifdef CLT_HAVE_CLBLAST
#include <clblast_c.h>

#define MAX_PARAMS 24

typedef struct {
  const char *device, *driver, *kernel;
  int precision;
  const char *params;
} tuning_entry;

/* Measured on PoCL 3.1 (Debian), 2-core AMD EPYC with AVX-512, CLBlast 1.5.3:
 * tools/clblast-tune.sh; see docs/PERFORMANCE.md for the GFLOP/s before and after. */
#define BUILTIN_CLBLAST_MAJOR 1
#define BUILTIN_CLBLAST_MINOR 5
static const tuning_entry builtin[] = {
    /* clblast_tuner_xgemm -m 1024 -n 1024 -k 1024 -fraction 0.02, phase 1: 76.6 GFLOP/s */
    {"pthread-skylake-avx512-AMD EPYC", "3.1+debian", "Xgemm", 32,
     "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=1 SB=1 STRM=0 STRN=0 VWM=4 VWN=2"},
    /* clblast_tuner_xgemm_direct -m 256 -n 256 -k 256 -fraction 0.05, phase 1: 39.3 GFLOP/s */
    {"pthread-skylake-avx512-AMD EPYC", "3.1+debian", "XgemmDirect", 32,
     "KWID=2 MDIMAD=16 MDIMCD=16 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=1 VWND=1 WGD=32"},
    /* Where the tuned Xgemm takes over from XgemmDirect (m n k >= 256^3): measured with
     * clt-bench, 128x128 33 GFLOP/s direct against 27 indirect, 256x256 40 against 64-69. */
    {"pthread-skylake-avx512-AMD EPYC", "3.1+debian", "GemmRoutine", 32, "XGEMM_MIN_INDIRECT_SIZE=256"},
};

static bool field_matches(const char *want, const char *have) { return strcmp(want, "*") == 0 || strcmp(want, have) == 0; }

/* An entry for this device and driver, in a precision it runs (64-bit entries skip devices
 * without fp64, CLT_DISABLE_FP64 included). */
static bool wanted(const clt_device_info *in, const char *device, const char *driver, int precision) {
  return field_matches(device, in->name) && field_matches(driver, in->driver_version) && (precision != 64 || in->fp64);
}

/* A decimal number, the whole of text, at most hi; false for anything else: a sign, a space, a
 * value past hi (strtol's 4294967328 became 32 once cast to int). */
static bool parse_number(const char *text, unsigned long long hi, unsigned long long *out) {
  if (*text < '0' || *text > '9') return false;
  unsigned long long v = 0;
  for (; *text >= '0' && *text <= '9'; text++) {
    unsigned digit = (unsigned)(*text - '0');
    if (v > (hi - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return *text == '\0';
}

/* The largest parameter value taken: CLBlast's are tile sizes, vector widths and switches, and
 * its own tuners never go past a few thousand. */
#define PARAM_MAX (1u << 20)

/* Parameters that may be 0: switches (GEMMK, the SA/SB/STRM/STRN/PAD* choices) and sizes from
 * which a route is taken. Every other one is a tile size, a work-group dimension or a vector
 * width, which CLBlast divides by: 0 would fail only at the first product. */
static bool zero_allowed(const char *name) {
  static const char *const names[] = {"GEMMK", "SA", "SB", "STRM", "STRN", "PADA", "PADB", "TRA_PAD", "TRA_SHUFFLE",
                                      "PADTRA_PAD", "XGEMM_MIN_INDIRECT_SIZE"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i]) == 0) return true;
  return false;
}

/* The next token of buf separated by spaces or tabs (buf is modified), NULL at the end. */
static char *next_token(char **cursor) {
  char *p = *cursor + strspn(*cursor, " \t");
  if (!*p) return NULL;
  char *end = p + strcspn(p, " \t");
  *cursor = *end ? end + 1 : end;
  *end = '\0';
  return p;
}

/* Splits "A=1 B=2" into names and values (names point into buf, which is modified). */
static clt_status parse_params(char *buf, const char *where, const char **names, size_t *values, size_t *n) {
  *n = 0;
  for (char *cursor = buf, *tok; (tok = next_token(&cursor));) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1])
      return clt__err(CLT_ERR_FORMAT, "%s: '%s' is not NAME=VALUE", where, tok);
    *eq = '\0';
    unsigned long long v;
    if (!parse_number(eq + 1, PARAM_MAX, &v))
      return clt__err(CLT_ERR_FORMAT, "%s: parameter %s has value '%s', not a non-negative integer up to %u", where,
                      tok, eq + 1, PARAM_MAX);
    if (v == 0 && !zero_allowed(tok))
      return clt__err(CLT_ERR_FORMAT, "%s: parameter %s is 0; tile sizes, work-group dimensions and vector widths "
                      "must be at least 1", where, tok);
    if (*n == MAX_PARAMS) return clt__err(CLT_ERR_FORMAT, "%s: more than %d parameters", where, MAX_PARAMS);
    names[*n] = tok;
    values[(*n)++] = (size_t)v;
  }
  if (*n == 0) return clt__err(CLT_ERR_FORMAT, "%s: no parameters", where);
  return CLT_OK;
}

/* Applies one entry's parameters to the device and notes it in d->gemm_tuning. */
static clt_status apply(clt__cl_dev *d, const char *kernel, int precision, const char *params, const char *where) {
  char buf[1024];
  if (snprintf(buf, sizeof buf, "%s", params) >= (int)sizeof buf)
    return clt__err(CLT_ERR_FORMAT, "%s: the parameter list is longer than %zu bytes", where, sizeof buf - 1);
  const char *names[MAX_PARAMS];
  size_t values[MAX_PARAMS], n;
  clt_status s = parse_params(buf, where, names, values, &n);
  if (s != CLT_OK) return s;
  if (precision != 32 && precision != 64)
    return clt__err(CLT_ERR_FORMAT, "%s: precision %d; CLBlast's are 32 and 64 here", where, precision);
  int code = CLT__CL(CLBlastOverrideParameters(d->device, kernel, precision == 32 ? CLBlastPrecisionSingle
                                                                                  : CLBlastPrecisionDouble,
                                               n, names, values));
  if (code != 0) {
    clt_status st = code == -2048 || code == -2047 ? CLT_ERR_FORMAT : CLT_ERR_BACKEND;
    return clt__err(st, "%s: CLBlastOverrideParameters(%s, %d-bit, %zu parameters) failed with %s (%d)%s", where,
                    kernel, precision, n, clt__clblast_status_name(code), code,
                    code == -2047 ? ": the kernel takes a different set of parameters" : "");
  }
  size_t len = strlen(d->gemm_tuning);
  snprintf(d->gemm_tuning + len, sizeof d->gemm_tuning - len, "%s%s/%d", len ? " " : "", kernel, precision);
  return CLT_OK;
}

/* Whether kernel/precision was already set by an earlier (higher-precedence) entry. */
static bool already_set(const clt__cl_dev *d, const char *kernel, int precision) {
  char key[96];
  snprintf(key, sizeof key, "%s/%d", kernel, precision);
  size_t kl = strlen(key);
  for (const char *p = d->gemm_tuning; (p = strstr(p, key)); p += kl)
    if ((p == d->gemm_tuning || p[-1] == ' ') && (p[kl] == ' ' || p[kl] == '\0')) return true;
  return false;
}

/* Reads the user's file: each matching line is applied. */
static clt_status apply_file(clt__cl_dev *d, const clt_device_info *in, const char *path) {
  FILE *f = clt__fopen(path, "r");
  if (!f) return clt__err(CLT_ERR_IO, "$CLT_CLBLAST_TUNING names '%s': cannot open it: %s", path, strerror(errno));
  char line[2048], where[sizeof line];
  clt_status s = CLT_OK;
  for (int no = 1; s == CLT_OK && fgets(line, sizeof line, f); no++) {
    snprintf(where, sizeof where, "$CLT_CLBLAST_TUNING %s line %d", path, no);
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      s = clt__err(CLT_ERR_FORMAT, "%s: longer than %zu bytes", where, sizeof line - 2);
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (line[strspn(line, " \t")] == '\0') continue;
    char *field[5], *p = line;
    int nf = 0;
    for (char *tab; nf < 4 && (tab = strchr(p, '\t')); p = tab + 1) {
      *tab = '\0';
      field[nf++] = p;
    }
    field[nf++] = p;
    if (nf != 5) {
      s = clt__err(CLT_ERR_FORMAT, "%s: %d tab-separated fields; want 5 (device, driver, kernel, precision, "
                                   "NAME=VALUE list)", where, nf);
      break;
    }
    unsigned long long prec;
    if (!parse_number(field[3], 1000, &prec)) {
      s = clt__err(CLT_ERR_FORMAT, "%s: precision '%s' is not 32 or 64", where, field[3]);
      break;
    }
    if (!wanted(in, field[0], field[1], (int)prec)) continue;
    if (!already_set(d, field[2], (int)prec)) s = apply(d, field[2], (int)prec, field[4], where);
  }
  if (s == CLT_OK && ferror(f)) s = clt__err(CLT_ERR_IO, "$CLT_CLBLAST_TUNING: reading '%s' failed", path);
  fclose(f);
  return s;
}

clt_status clt__cl_gemm_tune(clt__cl_dev *d, const clt_device_info *in) {
  d->gemm_tuning[0] = '\0';
  const char *env = clt__getenv("CLT_CLBLAST_TUNING");
  if ((env && strcmp(env, "none") == 0) || !clt__clblast_load()) return CLT_OK; /* nothing to tune */
  clt_status s = env && *env ? apply_file(d, in, env) : CLT_OK;
  if (BUILTIN_CLBLAST_MAJOR != CLBLAST_VERSION_MAJOR || BUILTIN_CLBLAST_MINOR != CLBLAST_VERSION_MINOR) return s;
  for (size_t i = 0; s == CLT_OK && i < sizeof builtin / sizeof builtin[0]; i++) {
    const tuning_entry *e = &builtin[i];
    if (!wanted(in, e->device, e->driver, e->precision)) continue;
    if (!already_set(d, e->kernel, e->precision)) s = apply(d, e->kernel, e->precision, e->params, "clt's built-in CLBlast tuning");
  }
  return s;
}

#else

clt_status clt__cl_gemm_tune(clt__cl_dev *d, const clt_device_info *in) {
  (void)in;
  d->gemm_tuning[0] = '\0';
  return CLT_OK;
}

#endif
