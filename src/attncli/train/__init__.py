"""Training: outside the inference path; nothing here is imported by explain or predict."""
