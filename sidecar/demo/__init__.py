"""The self-contained demo: a numpy model server, traffic with a shift, and a live view."""
