"""Data protection: subject access (`subject_access`) and retention (`retention`)."""
