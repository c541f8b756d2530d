"""Endpoint selection tests."""
