"""Frame sources for the station: GenICam cameras, image folders and a simulated line."""
