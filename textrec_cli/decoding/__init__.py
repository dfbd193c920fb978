"""Turning a line model's outputs into text, in one place below inference and serving.

`greedy` (numpy alone, so the LiteRT image decodes without Keras), `beam` (keras.ops prefix
beam search, n-best and exact CTC likelihoods), `lm` (beam search with a character KenLM and
the loading of an exported LM folder, whose file names and token scheme are in `tokens`) and
`attention` (autoregressive decoding for attention models). The LM *builder* and tuner stay
in `language/`, which may depend on inference and evaluation; nothing here does.
"""
