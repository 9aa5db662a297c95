"""Telling patients and clinicians: calendar invites (ics), mail transport (mail), mail wording (messages)."""
