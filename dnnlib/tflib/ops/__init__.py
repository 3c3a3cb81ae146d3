"""Custom ops used by the StyleGAN2 networks: fused bias + activation and FIR up/down sampling."""

IMPLS = ('ref', 'cpu', 'cuda')


def select_impl(op_name, impl):
    """The implementation an op runs: None = the fastest available, which today is 'ref' (plain TensorFlow)."""
    if impl is None or impl == 'ref':
        return 'ref'
    if impl in IMPLS:
        raise ValueError(f"{op_name}: impl={impl!r} needs the compiled kernels, which this version does not build; "
                         f"use impl='ref' or impl=None.")
    raise ValueError(f'{op_name}: unknown impl {impl!r}; expected None, {", ".join(map(repr, IMPLS))}.')
