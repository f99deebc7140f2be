// The README's first program in C++ (include/clt.hpp): a tensor from a host array, a transposed
// view, printed, copied back and saved as .npy; then a gradient. Errors are exceptions that
// carry clt's message, and every handle releases itself.
#include <clt.hpp>

#include <iostream>
#include <vector>

int main() {
  try {
    clt::device dev = clt::device::open();               // $CLT_DEVICE, else a GPU, else PoCL
    clt::tensor x = clt::from_vector(dev, std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});  // copies to dev
    clt::tensor t = x.transpose(0, 1);                   // a view, no copy
    std::cout << t << "\n";         // tensor([[1., 4.], [2., 5.], [3., 6.]], device='cl:0')
    std::vector<float> back = t.to_vector<float>();      // row-major copy to the host
    clt::save_npy("t.npy", t);                           // np.load("t.npy") reads it

    // d mean(x * x) / dx = x / 3 (six elements: 2 x / 6)
    x.requires_grad(true);
    clt::tensor loss = (x * x).mean();
    loss.backward();
    std::cout << "loss " << loss.item() << ", grad " << x.grad() << "\n";

    try {
      clt::matmul(x, x);                                 // [2,3] @ [2,3]: refused
    } catch (const clt::error &e) {                      // CLT_ERR_SHAPE: clt_matmul: shapes [2,3] and ...
      std::cout << e.status_name() << ": " << e.what() << "\n";
    }
  } catch (const clt::error &e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
