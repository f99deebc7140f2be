/* Lazy elementwise chains (issue 16): on devices other than the reference (host) one, an
 * elementwise op's result is recorded instead of launched. Its storage is allocated at once (so
 * every shape, dtype and size check and the allocation's error happen in the op that asked), and
 * holds a recipe: an elementwise program (backend.h: clt__ew_prog) over input storages. An op
 * reading a recorded result whole copies the result's recipe into its own, so a chain of them
 * becomes one program, which the OpenCL backend runs as one generated kernel (lib/cl/ew.c). A
 * recipe runs (the storage is "settled") when anything needs the bytes:
 *   - a compute entry through the dispatch door (dispatch.c) that reads or writes the storage, or
 *     writes a storage the recipe reads (an in-place op on an input, an optimizer step);
 *   - the memory layer: reads to the host (to_host, item, print, save), writes, maps, handing the
 *     buffer to the caller (clt_cl_tensor_get_buffer, DLPack);
 *   - clt_device_synchronize, which runs every recipe of the device;
 *   - an op that reads the result as a view (not the whole storage in its own shape), or whose
 *     chain would grow past the program's limits.
 * A chain over float16 or bfloat16 computes in float32 as its ops do, each 16-bit result rounded
 * to its type where the op would have stored it, so its bits are its ops' (but for which NaN).
 * A recorded result nobody reads is never computed: its recipe is dropped with its storage. A
 * chain's first run on a device is its ops' own kernels one by one; from its second run on, its
 * generated kernel (built then). $CLT_FUSION=0 turns recording off (every op launches at once,
 * as before), and so does $CLT_CHECK=1 (a mismatch then names the op that made it). */
#ifndef CLT_FUSION_H
#define CLT_FUSION_H

#include "backend.h"

/* Records out = p(in...) (p: one instruction over nin inputs) as a recipe of out's storage when
 * fusion is on, out's device is not the reference one and out is the whole of a fresh storage in
 * row-major order. Returns true when recorded (nothing launched; *s CLT_OK, or the error of a
 * recipe it had to run first), false when the caller must run p itself. */
bool clt__fusion_record(const clt__ew_prog *p, clt_tensor *out, clt_tensor *const *in, clt_status *s);
/* Runs what must run before st is read (write false) or written (write true): st's own recipe,
 * and when writing, every recipe that reads st. */
clt_status clt__fusion_settle(clt__storage *st, bool write);
/* Runs every recipe of dev. */
clt_status clt__fusion_settle_device(clt_device *dev);
/* st's last reference is gone: drops its recipe unrun. */
void clt__fusion_drop(clt__storage *st);
/* Whether any recipe is waiting (a cheap check before the door's work). */
bool clt__fusion_any_pending(void);
/* Tests: 1 on, every chain one generated kernel from its first run; 2 on, every chain its ops
 * one by one (recorded, never generated); 0 off; -1 back to
 * $CLT_FUSION (default on; a chain is one generated kernel from its second run on a device, its
 * ops one by one before). */
void clt__fusion_set(int on);
/* dev is closing: its chains' run counts go. */
void clt__fusion_forget_device(const clt_device *dev);
bool clt__fusion_enabled(void);

#endif
