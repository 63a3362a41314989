"""Training a model: the trainer (`fit` with resume and interruption) and its callbacks."""
