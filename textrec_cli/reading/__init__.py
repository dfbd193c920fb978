"""`textrec read`: resumable batch reading of whole archives, in local processes or on Ray."""
