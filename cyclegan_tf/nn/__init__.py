"""Neural-network parts: layers, the reference's generators and discriminators, losses (Keras, TensorFlow)."""
