"""The names the workflow and its activities are registered and called under.

Every order's history records them and a replay matches them byte for byte, so they never
change, not even when a Python function is renamed: an order in flight must find its steps
again after a deploy. They are the seed quickstart's names.
"""

WORKFLOW = "order_processing_workflow"

NOTIFY = "notify_activity"
VERIFY_INVENTORY = "verify_inventory_activity"
REQUEST_APPROVAL = "request_approval_activity"
PROCESS_PAYMENT = "process_payment_activity"
UPDATE_INVENTORY = "update_inventory_activity"
# Compensations.
RELEASE_INVENTORY = "release_inventory_activity"
REFUND_PAYMENT = "refund_payment_activity"

# The event a manager's decision reaches the waiting workflow as.
APPROVAL_EVENT = "manager_approval"
