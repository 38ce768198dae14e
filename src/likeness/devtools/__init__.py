"""Tools for the people who build likeness: the benchmark (`likeness bench`), the
calibration of the data-quality bounds, and the sample photos that ship with the wheels
(which the demo and a worker's warm-up borrow too). See docs/architecture.md.
"""
