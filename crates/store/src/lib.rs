//! The event store: a durable, gap-free log of events with snapshots, time travel and watches.
