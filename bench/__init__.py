"""Benchmarks and the virtual-audio harness they and the tests share (not product code)."""
