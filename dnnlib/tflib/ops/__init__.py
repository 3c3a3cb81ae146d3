"""Custom ops used by the StyleGAN2 networks: fused bias + activation and FIR up/down sampling."""
