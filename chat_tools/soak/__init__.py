"""`chat-tools soak`: a cluster under people-like churn and scheduled faults, for hours."""
