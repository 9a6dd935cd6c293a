"""Outside requesters: contacts with a name, an e-mail address and/or a phone number who use no chat.

The phone duty opens tickets for callers (``/ticket --for CONTACT``), and mail senders who are not in
``[people]`` write to the support mailbox. Each contact is a row of ``people`` (``is_staff`` false, no
platform identity) with a ``contacts`` row beside it: a ticket's ``requester_id`` points at it like at any
requester, and everything the requester should hear goes through :mod:`bot.contacts.reach` instead of the
ticket's private space.
"""
