"""UniAD: contextual audio description from an interleaved multimodal sequence."""

__version__ = "0.1.0"
