"""Two-person decisions (DESIGN §11): one person asks, another decides (``approvals.services``)."""
