"""Implementations of the ports this service needs (built in bootstrap only)."""
