/* The data path of clt, step by step: a host array becomes a tensor, goes to a device, is marked
 * for gradients, a loss goes backward, and values come back to the host to print and save. Each
 * conversion's name says whether it copies or shares.
 *
 * usage: conversions [DEVICE]     (DEVICE as for clt_device_open: "host", "cl:0", "cl:pocl"...) */
#include <stdio.h>
#include <stdlib.h>

#include "clt.h"

#define CHECK(x)                                                   \
  do {                                                             \
    if (!(x)) {                                                    \
      fprintf(stderr, "conversions: %s\n", clt_last_error());      \
      exit(1);                                                     \
    }                                                              \
  } while (0)

int main(int argc, char **argv) {
  clt_device *dev;
  CHECK(clt_device_open(argc > 1 ? argv[1] : NULL, &dev) == CLT_OK);
  printf("device: %s (%s)\n\n", clt_device_spec(dev), clt_device_type_of(dev) == CLT_DEVICE_HOST
                                                          ? "host" : "OpenCL");
  clt_scope_begin(); /* every tensor made below is released at clt_scope_end() */

  /* 1. A host array, copied into a tensor (torch.tensor(a)). */
  float a[2][3] = {{1, 2, 3}, {4, 5, 6}};
  clt_tensor *x = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 3), a);
  CHECK(x);
  printf("clt_from_host (copies):\n");
  clt_print(x, stdout);

  /* 2. The same array shared with a host tensor (torch.from_numpy(a)): writes show through. */
  clt_tensor *shared = clt_wrap_host(CLT_FLOAT32, CLT_SHAPE(2, 3), NULL, a, NULL, NULL);
  CHECK(shared);
  a[0][0] = 10;
  printf("\nclt_wrap_host (shares): a[0][0] = 10 is seen by the tensor\n");
  clt_print(shared, stdout);

  /* 3. To the device (t.cuda()), then a view: transpose shares storage, no copy. */
  clt_tensor *on_dev = clt_to(shared, dev);
  clt_tensor *t = clt_transpose(on_dev, 0, 1);
  CHECK(t);
  printf("\nclt_to(dev) then clt_transpose (a view, shares the device buffer):\n");
  clt_print(t, stdout);

  /* 4. Back to the host: a row-major copy of the transposed view (t.cpu().numpy()). */
  float back[3][2];
  CHECK(clt_to_host(t, back, sizeof back) == CLT_OK);
  printf("\nclt_to_host (copies out, row-major): back[2][0] = %g\n", back[2][0]);

  /* 5. Gradients (Variable(t, requires_grad=True), loss.backward()): the classic check,
   *    mean(w * w) for w = [[1, 2], [3, 4]] has gradient w / 2. */
  clt_tensor *w = clt_from_host(dev, CLT_FLOAT32, CLT_SHAPE(2, 2), (const float[]){1, 2, 3, 4});
  CHECK(clt_set_requires_grad(w, true) == CLT_OK);
  clt_tensor *loss = clt_mean(clt_mul(w, w), CLT_ALL_DIMS, false);
  CHECK(loss && clt_backward(loss, NULL) == CLT_OK);
  double lv;
  CHECK(clt_item(loss, &lv) == CLT_OK);
  printf("\nloss = mean(w * w) = %g (grad_fn %s); d loss / d w, back on the host:\n", lv, clt_grad_fn_name(loss));
  clt_print(clt_to(clt_grad(w), clt_device_of(shared)), stdout);

  /* 6. One element as a double (loss.item()), and a file NumPy reads (np.load). */
  double v;
  CHECK(clt_item(clt_slice(clt_slice(t, 0, 2, 3, 1), 1, 1, 2, 1), &v) == CLT_OK);
  printf("clt_item of t[2, 1]: %g\n", v);
  CHECK(clt_save_npy("conversions.npy", t) == CLT_OK);
  clt_tensor *loaded;
  CHECK(clt_load_npy("conversions.npy", dev, &loaded) == CLT_OK);
  printf("\nclt_save_npy + clt_load_npy round trip:\n");
  clt_print(loaded, stdout);
  remove("conversions.npy");

  clt_scope_end();
  clt_device_release(dev);
  return 0;
}
