"""The character LM's token scheme and file names: shared by the builder and the decoder.

Kept free of the data package (h5py, corpora) so the LiteRT serving image can decode with an
exported LM without them.
"""

SPACE = "▁"  # U+2581, the word separator token (sentencepiece's convention)
TOKENS = f"chars, space={SPACE}"  # lm.json's description of the token scheme, checked on load
LM_FILE = "char_lm.binary"
META_FILE = "lm.json"
