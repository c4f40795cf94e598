"""Datasets: formats, decoding, resizing and channel order."""
