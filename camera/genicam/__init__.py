"""GenICam cameras through harvesters, run in a supervised child process (see `source.py`)."""
