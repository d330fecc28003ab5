"""DICOM stores: where the images live."""

from dicomlab.stores.base import InstanceRef, MetadataItem, Store

__all__ = ["InstanceRef", "MetadataItem", "Store"]
