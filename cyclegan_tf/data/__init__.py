"""From folders to training batches: images (Pillow), the dataset registry and downloads, inspect/prepare
tools and the synthetic sets (all TensorFlow-free), and the tf.data pipeline (`pipeline`)."""
