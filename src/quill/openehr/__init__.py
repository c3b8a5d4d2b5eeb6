"""openEHR: the CompositionStore port, its embedded and EHRbase implementations, the facade."""
