"""The manager's board: a page (``/board``) listing every order in progress or recently ended,
the ones waiting for approval first, with Approve and Reject, and the stock; live over
server-sent events that wait like the long poll does (``following.watch``)."""
