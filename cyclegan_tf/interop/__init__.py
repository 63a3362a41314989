"""Weights from and to PyTorch: the reference's `.pth` files, its pretrained models, and its layouts."""
