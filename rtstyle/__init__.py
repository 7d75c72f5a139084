"""rtstyle: real-time neural style transfer for video files and live cameras.

Frames are HxWx3 uint8 RGB numpy arrays at the edges; see ``rtstyle.frames``.
"""
from .registry import builtin_styles
from .stylizer import Stylizer

__version__ = "0.1.0"
__all__ = ["Stylizer", "builtin_styles", "__version__"]
