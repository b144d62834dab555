"""Implementations of the ports this service needs (built in its main.py only)."""
