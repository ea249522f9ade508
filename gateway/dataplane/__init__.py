"""Routing and business logic shared by every front end (v1 REST, v2 REST)."""
