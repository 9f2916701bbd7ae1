"""The ZeroMQ link between stations and the review server (DESIGN.md: messaging, identity)."""
