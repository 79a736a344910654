"""Tests of sc_viz.explain (a package so that its helpers import relatively and its
file names cannot clash with other test folders)."""
