"""Reject actuation: parts tracked to the gate, fired on time, confirmed, and every disposition recorded."""
