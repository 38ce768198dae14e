"""HTTP API, upload webhook and the server-rendered UI."""
