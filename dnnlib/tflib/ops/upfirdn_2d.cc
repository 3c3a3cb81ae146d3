// The UpFirDn2D TensorFlow op: registration, the CPU kernel and, when built with -DSG2_CUDA, the GPU
// kernel, which calls the CUDA launcher in upfirdn_2d.cu. The index math is in upfirdn_2d.h.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "upfirdn_2d.h"
#ifdef SG2_CUDA
#include "xla/stream_executor/stream.h"
#endif

using namespace tensorflow;  // NOLINT: the REGISTER_* macros expect TensorFlow's names.

namespace {

struct Attrs {
    int upx = 1, upy = 1, downx = 1, downy = 1, padx0 = 0, padx1 = 0, pady0 = 0, pady1 = 0;

    template <class Context>
    absl::Status Read(Context* c) {
        for (auto [name, value] : {std::pair<const char*, int*>{"upx", &upx}, {"upy", &upy}, {"downx", &downx}, {"downy", &downy},
                                   {"padx0", &padx0}, {"padx1", &padx1}, {"pady0", &pady0}, {"pady1", &pady1}})
            TF_RETURN_IF_ERROR(c->GetAttr(name, value));
        if (upx < 1 || upy < 1 || downx < 1 || downy < 1)
            return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: up and down factors must be >= 1, got upx=", upx, " upy=", upy,
                                                           " downx=", downx, " downy=", downy));
        return absl::OkStatus();
    }
};

absl::Status OutputSize(int64_t in, int64_t k, int up, int down, int pad0, int pad1, const char* axis, int* out) {
    int64_t size = in * up + pad0 + pad1 - k;
    size = (size >= 0 ? size : size - down + 1) / down + 1;
    if (size < 1)
        return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: the output would be empty along ", axis, " (input ", in, ", up ", up,
                                                       ", pads ", pad0, " and ", pad1, ", kernel ", k, ", down ", down, ")"));
    if (in * up > std::numeric_limits<int>::max() / 2)
        return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: the image is too large along ", axis));
    *out = static_cast<int>(size);
    return absl::OkStatus();
}

absl::Status UpFirDn2DShape(shape_inference::InferenceContext* c) {
    Attrs attrs;
    TF_RETURN_IF_ERROR(attrs.Read(c));
    shape_inference::ShapeHandle x, k;
    TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
    TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &k));
    auto dim = [&](int x_axis, int k_axis, int up, int down, int pad0, int pad1, const char* name,
                   shape_inference::DimensionHandle* out) -> absl::Status {
        shape_inference::DimensionHandle in = c->Dim(x, x_axis), kd = c->Dim(k, k_axis);
        if (!c->ValueKnown(in) || !c->ValueKnown(kd)) {
            *out = c->UnknownDim();
            return absl::OkStatus();
        }
        int size = 0;
        TF_RETURN_IF_ERROR(OutputSize(c->Value(in), c->Value(kd), up, down, pad0, pad1, name, &size));
        *out = c->MakeDim(size);
        return absl::OkStatus();
    };
    shape_inference::DimensionHandle h, w;
    TF_RETURN_IF_ERROR(dim(1, 0, attrs.upy, attrs.downy, attrs.pady0, attrs.pady1, "y", &h));
    TF_RETURN_IF_ERROR(dim(2, 1, attrs.upx, attrs.downx, attrs.padx0, attrs.padx1, "x", &w));
    c->set_output(0, c->MakeShape({c->Dim(x, 0), h, w, c->Dim(x, 3)}));
    return absl::OkStatus();
}

}  // namespace

REGISTER_OP("UpFirDn2D")
    .Input("x: T")
    .Input("k: T")
    .Output("y: T")
    .Attr("T: {float, half}")
    .Attr("upx: int = 1")
    .Attr("upy: int = 1")
    .Attr("downx: int = 1")
    .Attr("downy: int = 1")
    .Attr("padx0: int = 0")
    .Attr("padx1: int = 0")
    .Attr("pady0: int = 0")
    .Attr("pady1: int = 0")
    .SetShapeFn(UpFirDn2DShape);

namespace {

// Attributes and input checks, common to the CPU and GPU kernels.
class UpFirDn2DBase : public OpKernel {
  public:
    explicit UpFirDn2DBase(OpKernelConstruction* ctx) : OpKernel(ctx) { OP_REQUIRES_OK(ctx, attrs_.Read(ctx)); }

  protected:
    // Checks the inputs, allocates the output and fills `args` (pointers of type T).
    template <class T>
    absl::Status Prepare(OpKernelContext* ctx, sg2::UpFirDn2DArgs* args) {
        const Tensor& x = ctx->input(0);
        const Tensor& k = ctx->input(1);
        if (x.dims() != 4)
            return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: x must have rank 4 [major, H, W, minor], got shape ", x.shape().DebugString()));
        if (k.dims() != 2 || k.NumElements() == 0)
            return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: k must be a non-empty 2D kernel, got shape ", k.shape().DebugString()));
        for (int i = 0; i < 4; i++)
            if (x.dim_size(i) > std::numeric_limits<int>::max())
                return absl::InvalidArgumentError(absl::StrCat("UpFirDn2D: x is too large: ", x.shape().DebugString()));
        int out_h = 0, out_w = 0;
        TF_RETURN_IF_ERROR(OutputSize(x.dim_size(1), k.dim_size(0), attrs_.upy, attrs_.downy, attrs_.pady0, attrs_.pady1, "y", &out_h));
        TF_RETURN_IF_ERROR(OutputSize(x.dim_size(2), k.dim_size(1), attrs_.upx, attrs_.downx, attrs_.padx0, attrs_.padx1, "x", &out_w));
        Tensor* y = nullptr;
        TF_RETURN_IF_ERROR(ctx->allocate_output(0, TensorShape({x.dim_size(0), out_h, out_w, x.dim_size(3)}), &y));

        args->x = x.flat<T>().data();
        args->k = k.flat<T>().data();
        args->y = y->flat<T>().data();
        args->major = static_cast<int>(x.dim_size(0));
        args->in_h = static_cast<int>(x.dim_size(1));
        args->in_w = static_cast<int>(x.dim_size(2));
        args->minor = static_cast<int>(x.dim_size(3));
        args->out_h = out_h;
        args->out_w = out_w;
        args->k_h = static_cast<int>(k.dim_size(0));
        args->k_w = static_cast<int>(k.dim_size(1));
        args->upx = attrs_.upx;
        args->upy = attrs_.upy;
        args->downx = attrs_.downx;
        args->downy = attrs_.downy;
        args->padx0 = attrs_.padx0;
        args->padx1 = attrs_.padx1;
        args->pady0 = attrs_.pady0;
        args->pady1 = attrs_.pady1;
        return absl::OkStatus();
    }

  private:
    Attrs attrs_;
};

// ----------------------------------------------------------------------------
// CPU kernel. The work unit is one output row (a major index and an output y). A separable kernel (all
// of the networks' are) combines the input rows of that output row's vertical taps into one row, then
// filters that row horizontally; any other kernel filters each of those input rows horizontally with
// its kernel row and sums. The innermost loops run along contiguous memory so that they vectorize.

// out[i] (+)= sum_t w[t] * rows[t][i] for N taps, in one pass: the partial sums stay in registers
// instead of going through memory once per tap.
template <int N>
inline void Combine(const float* const* rows, const float* w, float* __restrict__ out, int64_t n, bool add) {
    const float* r[N];
    float c[N];
    for (int t = 0; t < N; t++) r[t] = rows[t], c[t] = w[t];
    for (int64_t i = 0; i < n; i++) {
        float sum = add ? out[i] : 0.0f;
        for (int t = 0; t < N; t++) sum += c[t] * r[t][i];
        out[i] = sum;
    }
}

// out (+)= sum_t k[taps.k0 - t * up] * row(taps.in0 + t), n elements.
template <class RowFn>
inline void Accumulate(const sg2::Taps& taps, const float* k, int up, RowFn row, float* out, int64_t n, bool add) {
    if (taps.count == 0 && !add) std::fill(out, out + n, 0.0f);
    constexpr int kGroup = 4;
    for (int t0 = 0; t0 < taps.count; t0 += kGroup) {
        const float* rows[kGroup];
        float w[kGroup];
        int group = std::min(kGroup, taps.count - t0);
        for (int t = 0; t < group; t++) rows[t] = row(taps.in0 + t0 + t), w[t] = k[taps.k0 - (t0 + t) * up];
        bool accumulate = add || t0 > 0;
        switch (group) {
            case 1: Combine<1>(rows, w, out, n, accumulate); break;
            case 2: Combine<2>(rows, w, out, n, accumulate); break;
            case 3: Combine<3>(rows, w, out, n, accumulate); break;
            default: Combine<4>(rows, w, out, n, accumulate); break;
        }
    }
}

// Filters rows of in_w pixels (minor values each) horizontally into rows of out_w pixels.
class RowFilter {
  public:
    explicit RowFilter(const sg2::UpFirDn2DArgs& a)
        : a_(a), minor_(a.minor), padded_(a.upx == 1 && a.downx == 1),
          lead_(padded_ ? std::max(a.padx0, 0) * minor_ : 0), trail_(padded_ ? std::max(a.padx1, 0) * minor_ : 0) {
        if (!padded_)
            for (int ox = 0; ox < a.out_w; ox++) taps_.push_back(sg2::upfirdn_taps(ox, a.upx, a.downx, a.padx0, a.in_w, a.k_w));
    }

    // Rows to filter go into a zero-initialized buffer of this size, at row(buffer); the filter reads
    // the zeros around it as padding.
    int64_t buffer_size() const { return lead_ + static_cast<int64_t>(a_.in_w) * minor_ + trail_; }
    float* row(float* buffer) const { return buffer + lead_; }

    // out (+)= `in` filtered with the kernel row k (k_w taps). `in` is a row of a buffer if
    // needs_buffer(), else any row.
    bool needs_buffer() const { return padded_; }
    void Apply(const float* in, const float* k, float* out, bool add) const {
        if (padded_) {
            // Without up- or downsampling every output pixel takes all k_w taps, from the padded row:
            // out[ox] = sum_j k[k_w - 1 - j] * in[ox + j - padx0], one pass over the row per tap.
            const sg2::Taps all = {0, a_.k_w - 1, a_.k_w};
            Accumulate(all, k, 1, [&](int j) { return in + static_cast<int64_t>(j - a_.padx0) * minor_; }, out,
                       static_cast<int64_t>(a_.out_w) * minor_, add);
        } else if (minor_ == 1) {
            for (int ox = 0; ox < a_.out_w; ox++) {
                const sg2::Taps& t = taps_[ox];
                float sum = add ? out[ox] : 0.0f;
                for (int s = 0; s < t.count; s++) sum += k[t.k0 - s * a_.upx] * in[t.in0 + s];
                out[ox] = sum;
            }
        } else {
            for (int ox = 0; ox < a_.out_w; ox++)
                Accumulate(taps_[ox], k, a_.upx, [&](int ix) { return in + static_cast<int64_t>(ix) * minor_; }, out + ox * minor_,
                           minor_, add);
        }
    }

  private:
    const sg2::UpFirDn2DArgs& a_;
    const int64_t minor_;
    const bool padded_;
    const int64_t lead_, trail_;
    std::vector<sg2::Taps> taps_;  // Per output pixel, where not padded_.
};

// If k (h x w) is an outer product col * row^T (to float precision), fills col and row and returns true.
bool Separate(const float* k, int h, int w, std::vector<float>* col, std::vector<float>* row) {
    int pivot = 0;
    for (int i = 1; i < h * w; i++)
        if (std::fabs(k[i]) > std::fabs(k[pivot])) pivot = i;
    float peak = std::fabs(k[pivot]);
    int pi = pivot / w, pj = pivot % w;
    col->resize(h);
    row->resize(w);
    for (int i = 0; i < h; i++) (*col)[i] = k[i * w + pj];
    for (int j = 0; j < w; j++) (*row)[j] = peak > 0 ? k[pi * w + j] / k[pivot] : 0.0f;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            if (std::fabs(k[i * w + j] - (*col)[i] * (*row)[j]) > 1e-6f * peak) return false;
    return true;
}

class UpFirDn2DCpuOp : public UpFirDn2DBase {
  public:
    using UpFirDn2DBase::UpFirDn2DBase;

    void Compute(OpKernelContext* ctx) override {
        sg2::UpFirDn2DArgs a;
        OP_REQUIRES_OK(ctx, Prepare<float>(ctx, &a));
        if (a.major == 0 || a.minor == 0) return;
        const float* x = static_cast<const float*>(a.x);
        const float* k = static_cast<const float*>(a.k);
        float* y = static_cast<float*>(a.y);
        const int64_t in_row = static_cast<int64_t>(a.in_w) * a.minor, out_row = static_cast<int64_t>(a.out_w) * a.minor;
        auto x_row = [&](int64_t m, int iy) { return x + (m * a.in_h + iy) * in_row; };
        const RowFilter filter(a);
        std::vector<float> col, row;
        const bool separable = Separate(k, a.k_h, a.k_w, &col, &row);

        // Multiply-adds per output row: vertical and horizontal passes if separable, else the
        // horizontal pass once per vertical tap.
        int64_t taps_y = a.k_h / a.upy + 1, taps_x = a.k_w / a.upx + 1;
        int64_t cost = separable ? in_row * taps_y + out_row * taps_x : out_row * taps_y * taps_x;
        thread::ThreadPool* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
        pool->ParallelFor(static_cast<int64_t>(a.major) * a.out_h, thread::ThreadPool::SchedulingParams::Adaptive(2 * cost),
                          [&](int64_t begin, int64_t end) {
            std::vector<float> buffer(filter.buffer_size(), 0.0f);
            float* buffered = filter.row(buffer.data());
            for (int64_t r = begin; r < end; r++) {
                int64_t m = r / a.out_h;
                sg2::Taps ty = sg2::upfirdn_taps(static_cast<int>(r % a.out_h), a.upy, a.downy, a.pady0, a.in_h, a.k_h);
                float* out = y + r * out_row;
                if (separable) {
                    // Filter vertically into one row of the input's width, then that row horizontally:
                    // k_h / upy + k_w / upx multiply-adds per value instead of their product.
                    Accumulate(ty, col.data(), a.upy, [&](int iy) { return x_row(m, iy); }, buffered, in_row, false);
                    filter.Apply(buffered, row.data(), out, false);
                    continue;
                }
                if (ty.count == 0) std::fill(out, out + out_row, 0.0f);
                for (int t = 0; t < ty.count; t++) {
                    const float* in = x_row(m, ty.in0 + t);
                    if (filter.needs_buffer()) in = std::copy(in, in + in_row, buffered) - in_row;
                    filter.Apply(in, k + static_cast<int64_t>(ty.k0 - t * a.upy) * a.k_w, out, t > 0);
                }
            }
        });
    }
};

REGISTER_KERNEL_BUILDER(Name("UpFirDn2D").Device(DEVICE_CPU).TypeConstraint<float>("T"), UpFirDn2DCpuOp);

// ----------------------------------------------------------------------------
// GPU kernel.

#ifdef SG2_CUDA
template <class T>
class UpFirDn2DGpuOp : public UpFirDn2DBase {
  public:
    using UpFirDn2DBase::UpFirDn2DBase;

    void Compute(OpKernelContext* ctx) override {
        sg2::UpFirDn2DArgs args;
        OP_REQUIRES_OK(ctx, Prepare<T>(ctx, &args));
        void* stream = ctx->op_device_context()->stream()->platform_specific_handle().stream;
        const char* error = sg2::upfirdn_2d_cuda(args, std::is_same<T, Eigen::half>::value, stream);
        OP_REQUIRES(ctx, error == nullptr, absl::InternalError(absl::StrCat("UpFirDn2D: CUDA launch failed: ", error ? error : "")));
    }
};

REGISTER_KERNEL_BUILDER(Name("UpFirDn2D").Device(DEVICE_GPU).TypeConstraint<float>("T"), UpFirDn2DGpuOp<float>);
REGISTER_KERNEL_BUILDER(Name("UpFirDn2D").Device(DEVICE_GPU).TypeConstraint<Eigen::half>("T"), UpFirDn2DGpuOp<Eigen::half>);
#endif

}  // namespace
