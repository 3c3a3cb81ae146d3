"""Networks, losses, dataset reader and training loop."""
