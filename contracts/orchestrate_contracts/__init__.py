"""Orchestrate's shared contracts: message models, the envelope, topic names."""
