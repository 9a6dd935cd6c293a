"""The Head of Mailbox (the agency's handbook, "Supportpostfach"): a mail to the support mailbox that addresses a
colleague personally is shown to whoever holds the ``mailbox`` duty role, who decides what becomes of it — a
ticket assigned (to the colleague by default), part of an existing ticket, answered (no ticket, recorded), or
forwarded to the colleague by mail."""
