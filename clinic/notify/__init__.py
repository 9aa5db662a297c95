"""Telling patients and clinicians by mail: what a mail is about (notices), its words (wording), what
each says (messages, and offers for the waitlist), its calendar invite (ics), the message (mime), its
delivery (mail) and reading delivered mail back (mailbox)."""
