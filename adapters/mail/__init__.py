"""The support mailbox as a platform: IMAP intake, SMTP delivery (DESIGN.md ``[mail]``)."""
