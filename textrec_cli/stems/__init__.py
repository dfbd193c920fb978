"""Preprocessing shared by datasets, training and inference: one input format per model kind."""
