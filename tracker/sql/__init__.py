"""Dialect-specific writers behind plain functions: set-oriented reads and writes, one statement per batch.

Below the models and the domain, importing neither (a module here takes the `Table` to write), so any
layer may use them — the sweep, the importer, the topic-label dictionary.
"""
