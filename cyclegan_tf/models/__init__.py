"""The models, each in a module of its own that registers itself (`registry` finds them), with what they
share (`base`, `builders`, `precision`)."""
