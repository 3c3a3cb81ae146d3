"""numpy references of the custom ops, written from their definitions (shared by test_ops.py and
test_custom_ops.py)."""

import numpy as np


def np_upfirdn(x, k, upx, upy, downx, downy, padx0, padx1, pady0, pady1):
    """x [N, H, W, C]: insert zeros, pad/crop, true convolution (flipped kernel), keep every down-th sample."""
    n, h, w, c = x.shape
    z = np.zeros([n, h * upy, w * upx, c])
    z[:, ::upy, ::upx] = x
    z = np.pad(z, [(0, 0), (max(pady0, 0), max(pady1, 0)), (max(padx0, 0), max(padx1, 0)), (0, 0)])
    z = z[:, max(-pady0, 0): z.shape[1] - max(-pady1, 0), max(-padx0, 0): z.shape[2] - max(-padx1, 0)]
    kh, kw = k.shape
    oh, ow = z.shape[1] - kh + 1, z.shape[2] - kw + 1
    out = np.zeros([n, oh, ow, c])
    for i in range(kh):
        for j in range(kw):
            out += z[:, i:i + oh, j:j + ow] * k[kh - 1 - i, kw - 1 - j]
    return out[:, ::downy, ::downx]


SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772
NP_ACTS = {
    'linear': (lambda x, a: x, 1.0),
    'relu': (lambda x, a: np.maximum(x, 0), np.sqrt(2)),
    'lrelu': (lambda x, a: np.where(x > 0, x, a * x), np.sqrt(2)),
    'tanh': (lambda x, a: np.tanh(x), 1.0),
    'sigmoid': (lambda x, a: 1 / (1 + np.exp(-x)), 1.0),
    'elu': (lambda x, a: np.where(x > 0, x, np.exp(x) - 1), 1.0),
    'selu': (lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)), 1.0),
    'softplus': (lambda x, a: np.log1p(np.exp(x)), 1.0),
    'swish': (lambda x, a: x / (1 + np.exp(-x)), np.sqrt(2)),
}
