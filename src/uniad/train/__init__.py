"""Training: loop, distributed setup, schedule, checkpoints."""
