"""Character n-gram language model (KenLM) and CTC beam search with it, to fix what the line
model's greedy reading gets wrong where the text itself says what was meant."""
