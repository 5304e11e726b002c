//! The dependency graph of a stack: topological order, start layers and cycles.
