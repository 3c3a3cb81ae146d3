// fused_bias_act: the math of one element, shared by the CPU kernel (fused_bias_act.cc) and the CUDA
// kernel (fused_bias_act.cu). Plain C++ without TensorFlow, so the CUDA kernel also builds alone.
//
// One call computes, for v = x + b (the op's inputs, b broadcast along `axis`):
//   grad 0: act(v)                the forward pass
//   grad 1: v * act'(at r)        the backward pass (x holds dy, b holds d_db in the second-order pass)
//   grad 2: v * act''(at r)       the second-order x-gradient, once multiplied by dy (by the caller)
// where r is the reference the backward pass keeps: act(x + b) for most activations (the op's output
// divided by the gain) or x + b for swish, whose derivatives cannot be written in terms of its output.
// The caller multiplies the result by the gain.
#pragma once

#include <math.h>

#include "sg2_common.h"

namespace sg2 {

// The `act` attribute of the FusedBiasAct op (activation_funcs[...].cuda_idx in fused_bias_act.py).
enum Act { kLinear = 1, kRelu = 2, kLrelu = 3, kTanh = 4, kSigmoid = 5, kElu = 6, kSelu = 7, kSoftplus = 8, kSwish = 9 };
constexpr int kNumActs = 9;

constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kSeluAlpha = 1.6732632423543772f;

SG2_FUNC float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// Whether the backward pass needs r at all (linear does not).
SG2_FUNC bool act_uses_ref(int act) { return act != kLinear; }

// r from the tensor the backward pass kept: the output (scaled by the gain) or, for swish, x + b.
template <int A>
SG2_FUNC float unscale_ref(float ref, float inv_gain) { return A == kSwish ? ref : ref * inv_gain; }

template <int A, int G>
SG2_FUNC float fused_bias_act_point(float v, float r, float alpha) {
    // The comparisons pick the branch from r, as the reference path's derivatives do from the input:
    // r > 0 iff x + b > 0 for relu/lrelu, r >= 0 iff x + b >= 0 for elu/selu.
    if (A == kLinear) return G == 0 ? v : G == 1 ? v : 0.0f;
    if (A == kRelu) return G == 0 ? (v > 0.0f ? v : 0.0f) : G == 1 ? (r > 0.0f ? v : 0.0f) : 0.0f;
    if (A == kLrelu) return G == 0 ? (v > 0.0f ? v : v * alpha) : G == 1 ? (r > 0.0f ? v : v * alpha) : 0.0f;
    if (A == kTanh) {
        if (G == 0) return tanhf(v);
        float d1 = 1.0f - r * r;
        return G == 1 ? v * d1 : v * d1 * (-2.0f * r);
    }
    if (A == kSigmoid) {
        if (G == 0) return sigmoid(v);
        float d1 = r * (1.0f - r);
        return G == 1 ? v * d1 : v * d1 * (1.0f - 2.0f * r);
    }
    if (A == kElu) {
        if (G == 0) return v >= 0.0f ? v : expm1f(v);
        return r >= 0.0f ? (G == 1 ? v : 0.0f) : v * (r + 1.0f);  // exp(x) = r + 1 on the negative side.
    }
    if (A == kSelu) {
        if (G == 0) return v >= 0.0f ? kSeluScale * v : (kSeluScale * kSeluAlpha) * expm1f(v);
        return r >= 0.0f ? (G == 1 ? v * kSeluScale : 0.0f) : v * (r + kSeluScale * kSeluAlpha);
    }
    if (A == kSoftplus) {
        // softplus(x) = max(x, 0) + log1p(exp(-|x|)) never overflows; its derivative sigmoid(x) is
        // 1 - exp(-r), written with expm1 to keep its precision where r is tiny.
        if (G == 0) return fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v)));
        float d1 = -expm1f(-r);
        return G == 1 ? v * d1 : v * d1 * (1.0f - d1);
    }
    if (A == kSwish) {
        // Written with s = sigmoid(r), which saturates to exactly 0 or 1 instead of overflowing.
        if (G == 0) return v * sigmoid(v);
        float s = sigmoid(r);
        float ds = s * (1.0f - s);
        return G == 1 ? v * (s + r * ds) : v * ds * (2.0f + r * (1.0f - 2.0f * s));
    }
    return 0.0f;
}

// Calls f.template run<A, G>() for run-time act and grad; returns false if they are out of range.
template <class F>
bool dispatch_act(int act, int grad, F& f) {
#define SG2_ACT_CASE(A)                                       \
    case A:                                                   \
        if (grad == 0) return f.template run<A, 0>(), true;   \
        if (grad == 1) return f.template run<A, 1>(), true;   \
        if (grad == 2) return f.template run<A, 2>(), true;   \
        return false;
    switch (act) {
        SG2_ACT_CASE(kLinear) SG2_ACT_CASE(kRelu) SG2_ACT_CASE(kLrelu) SG2_ACT_CASE(kTanh) SG2_ACT_CASE(kSigmoid)
        SG2_ACT_CASE(kElu) SG2_ACT_CASE(kSelu) SG2_ACT_CASE(kSoftplus) SG2_ACT_CASE(kSwish)
    }
#undef SG2_ACT_CASE
    return false;
}

// What the op computes, for the CUDA launcher: x, b (or null), ref (or null) and y have the element
// type of the op (float or half); element i uses bias b[(i / step_b) % size_b].
struct FusedBiasActArgs {
    const void* x;
    const void* b;
    const void* ref;
    void* y;
    long long size_x;
    long long size_b;
    long long step_b;
    int act;
    int grad;
    float alpha;
    float gain;
};

// Launches the CUDA kernel on `stream` (a cudaStream_t); returns null or an error message.
const char* fused_bias_act_cuda(const FusedBiasActArgs& args, bool half, void* stream);

}  // namespace sg2
