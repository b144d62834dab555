"""Feature: keeps the Feast offline and online stores current."""
