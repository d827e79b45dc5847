"""Waybill benchmarks: `make bench` (python -m bench). Never part of `make test` or CI."""
