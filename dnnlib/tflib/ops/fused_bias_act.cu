// fused_bias_act: the CUDA kernel and its launcher, declared in fused_bias_act.h. Needs only the CUDA
// toolkit, not TensorFlow: fused_bias_act.cc calls it from the op, cuda_harness.cu from a test.

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "fused_bias_act.h"

namespace sg2 {
namespace {

// One thread per element, looping with the grid's stride over tensors larger than the grid.
template <class T, int A, int G>
__global__ void fused_bias_act_kernel(FusedBiasActArgs a) {
    const T* x = static_cast<const T*>(a.x);
    const T* b = static_cast<const T*>(a.b);
    const T* ref = static_cast<const T*>(a.ref);
    T* y = static_cast<T*>(a.y);
    float inv_gain = a.gain != 0.0f ? 1.0f / a.gain : 1.0f;
    long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.size_x; i += stride) {
        float v = load(x, i);
        if (b) v += load(b, (i / a.step_b) % a.size_b);
        float r = (G > 0 && act_uses_ref(A)) ? unscale_ref<A>(load(ref, i), inv_gain) : 0.0f;
        store(y, i, fused_bias_act_point<A, G>(v, r, a.alpha) * a.gain);
    }
}

template <class T>
struct Launch {
    const FusedBiasActArgs& a;
    cudaStream_t stream;

    template <int A, int G>
    void run() {
        const int block = 256;
        long long blocks = (a.size_x + block - 1) / block;
        int grid = static_cast<int>(blocks < 65536 ? blocks : 65536);
        fused_bias_act_kernel<T, A, G><<<grid, block, 0, stream>>>(a);
    }
};

template <class T>
const char* launch(const FusedBiasActArgs& args, cudaStream_t stream) {
    Launch<T> launch{args, stream};
    if (!dispatch_act(args.act, args.grad, launch)) return "fused_bias_act: act or grad out of range";
    cudaError_t error = cudaGetLastError();
    return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace

const char* fused_bias_act_cuda(const FusedBiasActArgs& args, bool half, void* stream) {
    if (args.size_x == 0) return nullptr;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    return half ? launch<__half>(args, s) : launch<float>(args, s);
}

}  // namespace sg2
