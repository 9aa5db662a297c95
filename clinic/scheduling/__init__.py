"""Scheduling services: time zones, the slot engine and the booking transaction."""
