"""Every payload that crosses a service boundary, defined once.

One module per area: ``orders`` (the order API, and the progress an order's workflow
publishes), ``board`` (the manager's board), ``inventory`` and ``payments`` (what
order-processor sends those services and gets back), ``errors`` (the JSON error body every
service returns) and ``roles`` (who may call the order API, and where each role's token is
kept). A workflow's own inputs and outputs live beside it, in its service.
"""
