"""Real-time visual quality inspection station: model runtime, decisions, CLI."""

__version__ = "0.1.0"
