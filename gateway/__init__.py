"""Credit exchange gateway: a federated node for public credit information."""

__version__ = "0.1.0"
