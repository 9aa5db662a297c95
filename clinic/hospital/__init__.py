"""The hospital's setup: what it offers patients (catalogue) and what admins change (settings)."""
