"""Reference profiles: the profile value, the builder that makes one, and the file readers."""
