"""`make bench`: throughput, latency, CPU and memory of the whole system (python -m tests.bench)."""
