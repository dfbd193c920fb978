"""Serving: export a trained model to LiteRT, then read images over HTTP or AWS Lambda.

`export` needs TensorFlow (it converts); everything else here runs on the LiteRT interpreter and
numpy alone, so serving images stay small and start fast.
"""
