// upfirdn_2d: the CUDA kernel and its launcher, declared in upfirdn_2d.h. Needs only the CUDA toolkit,
// not TensorFlow: upfirdn_2d.cc calls it from the op, cuda_harness.cu from a test.

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "upfirdn_2d.h"

namespace sg2 {
namespace {

// One thread per output element; `minor` varies fastest across threads, so that reads and writes of
// NHWC images coalesce (for [N*C, H, W, 1] images, x varies fastest instead).
template <class T>
__global__ void upfirdn_2d_kernel(UpFirDn2DArgs a) {
    const T* x = static_cast<const T*>(a.x);
    const T* k = static_cast<const T*>(a.k);
    T* y = static_cast<T*>(a.y);
    long long total = static_cast<long long>(a.major) * a.out_h * a.out_w * a.minor;
    long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
        int c = static_cast<int>(i % a.minor);
        long long pixel = i / a.minor;
        int ox = static_cast<int>(pixel % a.out_w);
        int oy = static_cast<int>((pixel / a.out_w) % a.out_h);
        long long m = pixel / (static_cast<long long>(a.out_w) * a.out_h);
        Taps ty = upfirdn_taps(oy, a.upy, a.downy, a.pady0, a.in_h, a.k_h);
        Taps tx = upfirdn_taps(ox, a.upx, a.downx, a.padx0, a.in_w, a.k_w);
        float sum = 0.0f;
        for (int t = 0; t < ty.count; t++) {
            long long in_row = (m * a.in_h + ty.in0 + t) * a.in_w;
            int k_row = (ty.k0 - t * a.upy) * a.k_w;
            for (int s = 0; s < tx.count; s++)
                sum += load(k, k_row + tx.k0 - s * a.upx) * load(x, (in_row + tx.in0 + s) * a.minor + c);
        }
        store(y, i, sum);
    }
}

template <class T>
const char* launch(const UpFirDn2DArgs& args, cudaStream_t stream) {
    long long total = static_cast<long long>(args.major) * args.out_h * args.out_w * args.minor;
    if (total == 0) return nullptr;
    const int block = 256;
    long long blocks = (total + block - 1) / block;
    int grid = static_cast<int>(blocks < 65536 ? blocks : 65536);
    upfirdn_2d_kernel<T><<<grid, block, 0, stream>>>(args);
    cudaError_t error = cudaGetLastError();
    return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace

const char* upfirdn_2d_cuda(const UpFirDn2DArgs& args, bool half, void* stream) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    return half ? launch<__half>(args, s) : launch<float>(args, s);
}

}  // namespace sg2
