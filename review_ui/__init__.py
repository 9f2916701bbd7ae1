"""Human-in-the-loop review server and web UI."""
