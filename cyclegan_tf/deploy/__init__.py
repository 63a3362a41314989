"""A trained run where its user's application runs: exported files and a translation server."""
