"""textrec: handwriting recognition, from characters to lines, as a command-line toolkit."""

__version__ = "0.1.0"
