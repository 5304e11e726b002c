//! `orco events [-f]`: the event log, one line per event; `-f` keeps following it. A watch
//! that falls too far behind resumes by itself from the revision the daemon names.

use orco_wire::model::EventView;

use crate::args::{EventsArgs, Format};
use crate::exit;
use crate::remote::{self, Failure};

fn print(view: &EventView, format: Format) -> Result<(), Failure> {
    match format {
        Format::Json => {
            let line = serde_json::to_string(view)
                .map_err(|e| Failure::Usage(format!("cannot print the event: {e}")))?;
            println!("{line}");
        }
        Format::Yaml => {
            println!("---");
            remote::print_structured(view, Format::Yaml)?;
        }
        Format::Table | Format::Wide => {
            let at = view.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
            println!("{:>6}  {at}  {}", view.revision, view.summary);
        }
    }
    Ok(())
}

pub(crate) fn run(args: &EventsArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let mut after = args.after;
        let kinds: Vec<&str> = args.kind.iter().map(String::as_str).collect();
        loop {
            let mut stream = client.events(after, args.follow, &kinds).await?;
            loop {
                let message = stream.next().await.map_err(|e| {
                    Failure::Client(orco_client::ClientError::Protocol {
                        host: client.host().to_string(),
                        detail: format!("the event stream broke: {e}"),
                    })
                })?;
                let Some(message) = message else {
                    return Ok(exit::OK);
                };
                match message.event.as_str() {
                    "event" => {
                        let view: EventView = serde_json::from_str(&message.data).map_err(|e| {
                            Failure::Usage(format!(
                                "the daemon sent an event that does not parse: {e}"
                            ))
                        })?;
                        print(&view, args.format.output)?;
                    }
                    "end" => return Ok(exit::OK),
                    "error" => {
                        let body: orco_wire::ErrorBody = serde_json::from_str(&message.data)
                            .map_err(|e| Failure::Usage(format!("unreadable error event: {e}")))?;
                        match body.error.resume_after {
                            Some(resume) if body.error.code == "too_slow" => {
                                after = resume;
                                break;
                            }
                            _ => {
                                eprintln!("error: {}", body.error.message);
                                return Ok(exit::FAILURE);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    })
}
