"""Clinical letters, stored as openEHR compositions."""
