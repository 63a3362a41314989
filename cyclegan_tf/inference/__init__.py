"""Translating images with a trained generator."""
