"""Staff accounts and signing in, and the hospital settings that admins change: plain Python services."""
