"""``orderctl``: place orders, follow their workflow step by step, approve them, restock.

It speaks only to the public order API (order-processor, port 8080), never to Dapr, and reads
every answer with the shared contracts, so a change of payload breaks it loudly.
"""
