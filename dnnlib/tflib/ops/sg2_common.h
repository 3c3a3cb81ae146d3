// Definitions shared by the kernel headers (fused_bias_act.h, upfirdn_2d.h) and the CUDA sources.
#pragma once

#if defined(__CUDACC__)
#include <cuda_fp16.h>

// Functions of the kernel headers run on the host (CPU kernels, tests) and on the device.
#define SG2_FUNC __host__ __device__ __forceinline__

namespace sg2 {

// The CUDA kernels compute in float for float and half tensors alike.
__device__ __forceinline__ float load(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, long long i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, long long i, float v) { p[i] = __float2half(v); }

}  // namespace sg2
#else
#define SG2_FUNC inline
#endif
