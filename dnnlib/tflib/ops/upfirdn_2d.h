// upfirdn_2d: the index math, shared by the CPU kernel (upfirdn_2d.cc) and the CUDA kernel
// (upfirdn_2d.cu). Plain C++ without TensorFlow, so the CUDA kernel also builds alone.
//
// Along one axis, with input length n, kernel length K, factors up and down and leading pad p0:
// insert up-1 zeros after each input sample, pad by p0 (negative crops), convolve with the kernel
// (flipped), keep every down-th sample. Output sample o is then
//   y[o] = sum_j z[o*down + j] * k[K-1-j],   z[m] = x[(m-p0)/up] if up divides m-p0, else 0,
// and the taps that land on inserted zeros or outside the input contribute nothing. upfirdn_taps
// lists the others: input samples in0, in0+1, ... times kernel taps k0, k0-up, ..., count of them.
// The 2D op applies this along y and x; the kernel is separable or not, the math is the same.
#pragma once

#include "sg2_common.h"

namespace sg2 {

SG2_FUNC int floor_div(int a, int b) { return (a >= 0 ? a : a - b + 1) / b; }  // b > 0

struct Taps {
    int in0;    // First input sample.
    int k0;     // Its kernel tap; tap k0 - t * up goes with input sample in0 + t.
    int count;  // Number of (input sample, tap) pairs; 0 if the output sees only zeros.
};

SG2_FUNC Taps upfirdn_taps(int o, int up, int down, int pad0, int in_size, int k_size) {
    int s = o * down - pad0;               // Upsampled position of the output's first tap (j = 0).
    int i0 = floor_div(s + up - 1, up);    // First input sample at or after s ...
    int j0 = i0 * up - s;                  // ... is reached by tap offset j0 in [0, up).
    int t_begin = i0 < 0 ? -i0 : 0;        // Skip samples before the input's start ...
    int t_end = (k_size - j0 + up - 1) / up;
    if (t_end > in_size - i0) t_end = in_size - i0;  // ... and after its end.
    Taps taps;
    taps.in0 = i0 + t_begin;
    taps.k0 = k_size - 1 - j0 - t_begin * up;
    taps.count = t_end > t_begin ? t_end - t_begin : 0;
    return taps;
}

// Output length along one axis; the op requires it to be at least 1.
SG2_FUNC int upfirdn_out_size(int in_size, int up, int down, int pad0, int pad1, int k_size) {
    return floor_div(in_size * up + pad0 + pad1 - k_size, down) + 1;
}

// What the op computes: x [major, in_h, in_w, minor] -> y [major, out_h, out_w, minor], kernel k
// [k_h, k_w]; the CUDA launcher takes x, k and y in the op's element type (float or half).
struct UpFirDn2DArgs {
    const void* x;
    const void* k;
    void* y;
    int major, in_h, in_w, minor;
    int out_h, out_w;
    int k_h, k_w;
    int upx, upy, downx, downy;
    int padx0, padx1, pady0, pady1;
};

// Launches the CUDA kernel on `stream` (a cudaStream_t); returns null or an error message.
const char* upfirdn_2d_cuda(const UpFirDn2DArgs& args, bool half, void* stream);

}  // namespace sg2
