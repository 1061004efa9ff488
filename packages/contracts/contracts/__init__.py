"""Every payload that crosses a service or workflow boundary, defined once.

One module per area: ``orders`` (the order API and the workflow's activities), ``inventory``,
``payments``, and ``errors`` (the JSON error body every service returns).
"""
