"""The Matrix adapter: matrix-nio's AsyncClient, a checkpointed sync loop, the outbox to rooms."""

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.runtime import MatrixRuntime, connect
from adapters.matrix.sync import MatrixIngress

__all__ = ["MatrixAdapter", "MatrixIngress", "MatrixRuntime", "connect"]
