//! What the crate's unit tests share.

use jiff::Timestamp;
use orco_state::{Event, EventKind};

/// The `StackApplied` of a stack file's text (panics with the report when it is invalid).
pub(crate) fn applied(text: &str) -> Event {
    let dir = std::env::temp_dir();
    let stack = match orco_spec::load_str(std::path::Path::new("t.yaml"), text, &dir) {
        Ok(loaded) => loaded.stack,
        Err(report) => panic!("{}", report.render(false)),
    };
    Event::new(
        Timestamp::UNIX_EPOCH,
        EventKind::StackApplied {
            stack: Box::new(stack),
        },
    )
}
