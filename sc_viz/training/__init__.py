"""Training: the trainer loop, the variants (objective terms), named recipes."""
