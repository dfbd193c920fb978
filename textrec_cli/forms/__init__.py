"""Paper forms, IAM style: print prompts with a QR id, read the filled-in scans back."""
