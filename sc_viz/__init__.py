"""sc-viz: semantic continuity of image classifiers."""

from sc_viz.packs import Pack, PackError, load_model_file, load_pack

__all__ = ["load_pack", "load_model_file", "Pack", "PackError"]
__version__ = "0.1.0"
