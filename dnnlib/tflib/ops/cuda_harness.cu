// Test harness for the CUDA kernels without TensorFlow: copies host float arrays to the GPU (as float or
// half), runs a kernel through its launcher, waits, copies the result back. tests/test_custom_ops.py
// builds it with `nvcc -shared` together with fused_bias_act.cu and upfirdn_2d.cu and calls it through
// ctypes. Each function returns null, or an error message.

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <vector>

#include "fused_bias_act.h"
#include "upfirdn_2d.h"

namespace {

// A device buffer of n elements, float or half, freed on scope exit.
class DeviceArray {
  public:
    DeviceArray(long long n, bool half) : n_(n), half_(half) {}
    ~DeviceArray() { cudaFree(ptr_); }

    const char* Upload(const float* host) {
        if (host == nullptr || n_ == 0) return nullptr;
        if (cudaError_t e = cudaMalloc(&ptr_, n_ * (half_ ? sizeof(__half) : sizeof(float)))) return cudaGetErrorString(e);
        if (!half_) return Check(cudaMemcpy(ptr_, host, n_ * sizeof(float), cudaMemcpyHostToDevice));
        std::vector<__half> h(n_);
        for (long long i = 0; i < n_; i++) h[i] = __float2half(host[i]);
        return Check(cudaMemcpy(ptr_, h.data(), n_ * sizeof(__half), cudaMemcpyHostToDevice));
    }

    const char* Allocate() { return Check(cudaMalloc(&ptr_, n_ * (half_ ? sizeof(__half) : sizeof(float)))); }

    const char* Download(float* host) const {
        if (!half_) return Check(cudaMemcpy(host, ptr_, n_ * sizeof(float), cudaMemcpyDeviceToHost));
        std::vector<__half> h(n_);
        if (const char* error = Check(cudaMemcpy(h.data(), ptr_, n_ * sizeof(__half), cudaMemcpyDeviceToHost))) return error;
        for (long long i = 0; i < n_; i++) host[i] = __half2float(h[i]);
        return nullptr;
    }

    void* get() const { return ptr_; }

  private:
    static const char* Check(cudaError_t e) { return e == cudaSuccess ? nullptr : cudaGetErrorString(e); }
    void* ptr_ = nullptr;
    long long n_;
    bool half_;
};

const char* Synchronize() {
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace

#define SG2_TRY(expr)                              \
    do {                                           \
        if (const char* error_ = (expr)) return error_; \
    } while (false)

extern "C" int sg2_device_count() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

// b and ref may be null (no bias; grad 0).
extern "C" const char* sg2_fused_bias_act(const float* x, const float* b, const float* ref, float* y, long long size_x,
                                          long long size_b, long long step_b, int act, int grad, float alpha, float gain,
                                          int half) {
    DeviceArray dx(size_x, half), db(b ? size_b : 0, half), dref(ref ? size_x : 0, half), dy(size_x, half);
    SG2_TRY(dx.Upload(x));
    SG2_TRY(db.Upload(b));
    SG2_TRY(dref.Upload(ref));
    SG2_TRY(dy.Allocate());
    sg2::FusedBiasActArgs args = {dx.get(), b ? db.get() : nullptr, ref ? dref.get() : nullptr, dy.get(), size_x,
                                  b ? size_b : 0, step_b, act, grad, alpha, gain};
    SG2_TRY(sg2::fused_bias_act_cuda(args, half, nullptr));
    SG2_TRY(Synchronize());
    return dy.Download(y);
}

// y must hold major * out_h * out_w * minor floats, the sizes given by sg2::upfirdn_out_size.
extern "C" const char* sg2_upfirdn_2d(const float* x, const float* k, float* y, int major, int in_h, int in_w, int minor,
                                      int k_h, int k_w, int upx, int upy, int downx, int downy, int padx0, int padx1,
                                      int pady0, int pady1, int half) {
    int out_h = sg2::upfirdn_out_size(in_h, upy, downy, pady0, pady1, k_h);
    int out_w = sg2::upfirdn_out_size(in_w, upx, downx, padx0, padx1, k_w);
    if (out_h < 1 || out_w < 1) return "upfirdn_2d: empty output";
    long long size_y = static_cast<long long>(major) * out_h * out_w * minor;
    DeviceArray dx(static_cast<long long>(major) * in_h * in_w * minor, half), dk(static_cast<long long>(k_h) * k_w, half),
        dy(size_y, half);
    SG2_TRY(dx.Upload(x));
    SG2_TRY(dk.Upload(k));
    SG2_TRY(dy.Allocate());
    sg2::UpFirDn2DArgs args = {dx.get(), dk.get(), dy.get(), major, in_h, in_w, minor, out_h, out_w, k_h, k_w,
                               upx, upy, downx, downy, padx0, padx1, pady0, pady1};
    SG2_TRY(sg2::upfirdn_2d_cuda(args, half, nullptr));
    SG2_TRY(Synchronize());
    return dy.Download(y);
}
