"""Operational templates Quill's compositions follow (read with ``letter_template()``)."""
