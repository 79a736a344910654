"""Training: the trainer loop, the objectives and example generators, named recipes (the
variants registry is core: sc_viz/variants.py)."""
