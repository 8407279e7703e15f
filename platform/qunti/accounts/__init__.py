"""Accounts, roles and what each role may touch."""
