"""Blueprints, one module each. Each reads as a URL table."""
