"""Training: NVIDIA's StyleGAN2 losses and update steps on tf.GradientTape, datasets, the training loop."""
