"""Buckets: where filter files and exports are written."""

from dicomlab.buckets.base import Bucket

__all__ = ["Bucket"]
