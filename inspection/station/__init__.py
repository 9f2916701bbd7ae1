"""The inline station: frames in, exactly one decision per part out, inside a latency budget."""
