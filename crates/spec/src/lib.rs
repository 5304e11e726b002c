//! The stack file: its model, loader, validation and JSON Schema (DESIGN.md §8).
