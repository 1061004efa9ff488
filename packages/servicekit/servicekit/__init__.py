"""What every service shares, written once: settings, logging, Flask wiring, Dapr access."""
