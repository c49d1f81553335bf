"""Training: one shared loop (data, optimisation, checkpoints, logging); objectives plug into it."""
