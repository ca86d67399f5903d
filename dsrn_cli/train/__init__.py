"""Training: the run's arguments and their checks, the training data (luma patches,
augmentation, JPEG degradation) and the loop cut into named steps."""
