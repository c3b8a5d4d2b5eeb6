"""Who the caller is and what level they have: below auth and access, no web in it."""
