"""Accounts: login and logout, one's own password, API tokens, the audit log."""
