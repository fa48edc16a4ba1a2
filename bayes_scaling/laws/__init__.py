"""Scaling laws, each written once over an array namespace (NumPy or PyTensor)."""
