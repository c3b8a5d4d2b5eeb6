"""Competency-based access: a caller's competencies, the admin change, and the catalogue."""
