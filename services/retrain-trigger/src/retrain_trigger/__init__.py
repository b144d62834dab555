"""Retrain trigger: turns drift and degradation into at most one training at a time."""
