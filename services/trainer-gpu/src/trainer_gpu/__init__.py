"""Trainer: trains the churn classifier on CUDA when present, else on the CPU."""
