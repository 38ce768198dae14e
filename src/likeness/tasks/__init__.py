"""Prefect tasks: each does one thing; the flows only orchestrate them."""
