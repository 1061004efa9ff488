"""The roles of the order API's callers, and where each role's bearer token is kept.

Shared by the API (which checks ``Authorization: Bearer <token>`` against each role's token)
and by its clients (which send the token of the role a call needs), so the names of the roles
and of their variables are written once.
"""

from enum import StrEnum


class Role(StrEnum):
    """Who calls. Customers place and follow orders, which needs no token at all; their token
    exists so that a real credential of the wrong role can be told from none (403, not 401)."""

    CUSTOMER = "customer"
    OPERATOR = "operator"
    MANAGER = "manager"

    @property
    def token_variable(self) -> str:
        """The environment variable that holds this role's token: ``MANAGER_API_TOKEN``."""
        return f"{self.name}_API_TOKEN"


# The shortest token the API accepts at start-up: 32 characters (a 64-character hex string
# is what the Makefile and the Kubernetes hook make).
MIN_TOKEN_LENGTH = 32
