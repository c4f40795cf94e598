"""Pure ModelProto analysis: indexing, shapes, multiply-adds, parameters."""
