"""The labelled ticket set and the script that builds it (see build_dataset.py)."""
