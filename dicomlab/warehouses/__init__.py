"""Warehouses: where the metadata table lives and the SQL runs."""

from dicomlab.warehouses.base import WRITE_DISPOSITIONS, Warehouse, validate_write_disposition

__all__ = ["WRITE_DISPOSITIONS", "Warehouse", "validate_write_disposition"]
