"""Staff accounts and signing in: plain Python services."""
