"""Shared test harness: real databases for every tier that needs one."""
