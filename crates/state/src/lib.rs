//! One `Event` type for every change, and `State::apply`, the deterministic fold over events.
