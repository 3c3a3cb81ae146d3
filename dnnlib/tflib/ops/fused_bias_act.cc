// The FusedBiasAct TensorFlow op: registration, the CPU kernel and, when built with -DSG2_CUDA, the GPU
// kernel, which calls the CUDA launcher in fused_bias_act.cu. The per-element math is in fused_bias_act.h.

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "fused_bias_act.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#ifdef SG2_CUDA
#include "xla/stream_executor/stream.h"
#endif

using namespace tensorflow;  // NOLINT: the REGISTER_* macros expect TensorFlow's names.

REGISTER_OP("FusedBiasAct")
    .Input("x: T")
    .Input("b: T")
    .Input("ref: T")
    .Output("y: T")
    .Attr("T: {float, half}")
    .Attr("grad: int = 0")
    .Attr("axis: int = 1")
    .Attr("act: int = 0")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .SetShapeFn(shape_inference::UnchangedShape);

namespace {

// Attributes and input checks, common to the CPU and GPU kernels.
class FusedBiasActBase : public OpKernel {
  public:
    explicit FusedBiasActBase(OpKernelConstruction* ctx) : OpKernel(ctx) {
        OP_REQUIRES_OK(ctx, ctx->GetAttr("grad", &grad_));
        OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", &axis_));
        OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &act_));
        OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &alpha_));
        OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &gain_));
        if (act_ == 0) act_ = sg2::kLinear;  // The attribute's default, linear as in NVIDIA's op.
        OP_REQUIRES(ctx, grad_ >= 0 && grad_ <= 2,
                    absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: grad must be 0, 1 or 2, got ", grad_)));
        OP_REQUIRES(ctx, act_ >= 1 && act_ <= sg2::kNumActs,
                    absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: act must be 1..", sg2::kNumActs, ", got ", act_)));
        OP_REQUIRES(ctx, axis_ >= 0, absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: axis must be >= 0, got ", axis_)));
    }

  protected:
    // Checks the inputs, allocates the output and fills `args`.
    template <class T>
    absl::Status Prepare(OpKernelContext* ctx, sg2::FusedBiasActArgs* args) {
        const Tensor& x = ctx->input(0);
        const Tensor& b = ctx->input(1);
        const Tensor& ref = ctx->input(2);
        if (b.dims() != 1)
            return absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: b must have rank 1, got shape ", b.shape().DebugString()));
        if (b.NumElements() > 0 && axis_ >= x.dims())
            return absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: axis ", axis_, " is out of range for x of shape ", x.shape().DebugString()));
        if (b.NumElements() > 0 && b.NumElements() != x.dim_size(axis_))
            return absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: b has ", b.NumElements(), " elements, x has ",
                                                           x.dim_size(axis_), " along axis ", axis_));
        int64_t ref_size = grad_ == 0 ? 0 : x.NumElements();
        if (ref.NumElements() != ref_size)
            return absl::InvalidArgumentError(absl::StrCat("FusedBiasAct: ref must have ", ref_size, " elements for grad=", grad_,
                                                           ", got ", ref.NumElements()));
        Tensor* y = nullptr;
        TF_RETURN_IF_ERROR(ctx->allocate_output(0, x.shape(), &y));

        int64_t step_b = 1;
        for (int i = axis_ + 1; i < x.dims(); i++) step_b *= x.dim_size(i);
        args->x = x.flat<T>().data();
        args->b = b.NumElements() > 0 ? b.flat<T>().data() : nullptr;
        args->ref = ref.NumElements() > 0 ? ref.flat<T>().data() : nullptr;
        args->y = y->flat<T>().data();
        args->size_x = x.NumElements();
        args->size_b = b.NumElements();
        args->step_b = step_b;
        args->act = act_;
        args->grad = grad_;
        args->alpha = alpha_;
        args->gain = gain_;
        return absl::OkStatus();
    }

  private:
    int grad_ = 0, axis_ = 0, act_ = 0;
    float alpha_ = 0, gain_ = 1;
};

// ----------------------------------------------------------------------------
// CPU kernel.

// One contiguous run of elements, with the bias either varying along it (one value per element) or
// constant; written as a plain loop over arrays so that the compiler vectorizes it.
template <int A, int G, bool kBiasPerElement>
void FusedBiasActRun(const float* __restrict__ x, const float* __restrict__ ref, float* __restrict__ y, int64_t n,
                     const float* __restrict__ b, float bias, float alpha, float gain, float inv_gain) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] + (kBiasPerElement ? b[i] : bias);
        float r = (G > 0 && sg2::act_uses_ref(A)) ? sg2::unscale_ref<A>(ref[i], inv_gain) : 0.0f;
        y[i] = sg2::fused_bias_act_point<A, G>(v, r, alpha) * gain;
    }
}

struct FusedBiasActCpu {
    const sg2::FusedBiasActArgs& a;
    thread::ThreadPool* pool;

    template <int A, int G>
    void run() {
        const float* x = static_cast<const float*>(a.x);
        const float* b = static_cast<const float*>(a.b);
        const float* ref = static_cast<const float*>(a.ref);
        float* y = static_cast<float*>(a.y);
        float alpha = a.alpha, gain = a.gain, inv_gain = a.gain != 0.0f ? 1.0f / a.gain : 1.0f;
        // Rough cycles per element, for the thread pool's sharding: the exp-based activations cost more.
        int64_t cost = (A == sg2::kLinear || A == sg2::kRelu || A == sg2::kLrelu) ? 2 : 20;

        // Work units are runs of elements that share the bias pattern: runs of step_b elements with one
        // bias each, or (step_b == 1) rows of size_b elements with a bias each, or fixed-size blocks.
        int64_t unit;
        if (b == nullptr) {
            unit = std::min<int64_t>(a.size_x, 4096);
        } else {
            unit = a.step_b == 1 ? a.size_b : a.step_b;
        }
        int64_t num_units = (a.size_x + unit - 1) / unit;
        pool->ParallelFor(num_units, thread::ThreadPool::SchedulingParams::Adaptive(cost * unit), [&](int64_t begin, int64_t end) {
            for (int64_t u = begin; u < end; u++) {
                int64_t offset = u * unit, n = std::min<int64_t>(unit, a.size_x - offset);
                const float* r = ref ? ref + offset : nullptr;
                if (b == nullptr)
                    FusedBiasActRun<A, G, false>(x + offset, r, y + offset, n, nullptr, 0.0f, alpha, gain, inv_gain);
                else if (a.step_b == 1)
                    FusedBiasActRun<A, G, true>(x + offset, r, y + offset, n, b, 0.0f, alpha, gain, inv_gain);
                else
                    FusedBiasActRun<A, G, false>(x + offset, r, y + offset, n, nullptr, b[u % a.size_b], alpha, gain, inv_gain);
            }
        });
    }
};

class FusedBiasActCpuOp : public FusedBiasActBase {
  public:
    using FusedBiasActBase::FusedBiasActBase;

    void Compute(OpKernelContext* ctx) override {
        sg2::FusedBiasActArgs args;
        OP_REQUIRES_OK(ctx, Prepare<float>(ctx, &args));
        if (args.size_x == 0) return;
        FusedBiasActCpu run{args, ctx->device()->tensorflow_cpu_worker_threads()->workers};
        sg2::dispatch_act(args.act, args.grad, run);
    }
};

REGISTER_KERNEL_BUILDER(Name("FusedBiasAct").Device(DEVICE_CPU).TypeConstraint<float>("T"), FusedBiasActCpuOp);

// ----------------------------------------------------------------------------
// GPU kernel.

#ifdef SG2_CUDA
template <class T>
class FusedBiasActGpuOp : public FusedBiasActBase {
  public:
    using FusedBiasActBase::FusedBiasActBase;

    void Compute(OpKernelContext* ctx) override {
        sg2::FusedBiasActArgs args;
        OP_REQUIRES_OK(ctx, Prepare<T>(ctx, &args));
        if (args.size_x == 0) return;
        void* stream = ctx->op_device_context()->stream()->platform_specific_handle().stream;
        const char* error = sg2::fused_bias_act_cuda(args, std::is_same<T, Eigen::half>::value, stream);
        OP_REQUIRES(ctx, error == nullptr, absl::InternalError(absl::StrCat("FusedBiasAct: CUDA launch failed: ", error ? error : "")));
    }
};

REGISTER_KERNEL_BUILDER(Name("FusedBiasAct").Device(DEVICE_GPU).TypeConstraint<float>("T"), FusedBiasActGpuOp<float>);
REGISTER_KERNEL_BUILDER(Name("FusedBiasAct").Device(DEVICE_GPU).TypeConstraint<Eigen::half>("T"), FusedBiasActGpuOp<Eigen::half>);
#endif

}  // namespace
