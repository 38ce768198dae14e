"""Great Expectations suites (as code) over what the pipeline writes, and their runner."""
