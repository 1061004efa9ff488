"""The two reference apps the bench compares our system with."""
