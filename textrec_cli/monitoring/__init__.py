"""Production monitoring: log every prediction, compare recent traffic with the training data."""
