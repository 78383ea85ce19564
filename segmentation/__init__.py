"""Segmentation: features and rules that place each member on the article's dimensions."""
