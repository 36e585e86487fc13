"""Business rules as plain functions: no Flask request and no emit inside."""
