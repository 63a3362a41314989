"""`python -m cyclegan_tf.cli`: the same as the `cyclegan-tf` command."""

from cyclegan_tf.cli.main import main

main()
