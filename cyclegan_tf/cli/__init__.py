"""The `cyclegan-tf` command line (`main`), one module per command or command group."""
