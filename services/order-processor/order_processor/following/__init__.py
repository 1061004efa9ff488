"""Following an order: the one place that knows how an order's progress travels.

The workflow publishes (``publish.Progress``): each step, with its time, goes into the
workflow's custom status as an ``OrderProgress`` (contracts), and rings this process's bell
(``bell``). Readers read it back from daprd (``reads``, which also rides out daprd's torn
reads), and wait for news without a loop of reads (``watch``): the long poll of
``GET /orders/<id>?wait=`` and the manager's board's event stream are the same wait.

The workflow imports ``publish`` only; nothing here imports the workflow.
"""
