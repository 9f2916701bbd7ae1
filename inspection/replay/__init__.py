"""Offline replay of image folders through the station's own decision code, with a report."""
