//! `orco run NAME [--replicas N] [--restart MODE] -- CMD…`: a one-service workload without a
//! stack file, added to stack `--stack` (default: a stack named like the service).

use orco_wire::model::WorkloadCreate;

use crate::args::RunArgs;
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let service = serde_json::json!({
            "command": args.command,
            "replicas": args.replicas,
            "restartPolicy": {"mode": args.restart.as_str()},
        });
        let service: orco_spec::Service = serde_json::from_value(service)
            .map_err(|e| Failure::Usage(format!("cannot build the service: {e}")))?;
        let workdir = std::env::current_dir()
            .map_err(|e| Failure::Usage(format!("cannot read the current directory: {e}")))?;
        let stack = args.stack.clone().unwrap_or_else(|| args.name.clone());
        let client = crate::autostart::client(&args.connect).await?;
        let accepted = client
            .create_workload(&WorkloadCreate {
                stack: stack.clone(),
                name: args.name.clone(),
                service,
                workdir: Some(workdir.display().to_string()),
            })
            .await?;
        println!(
            "{stack}/{} submitted (revision {})",
            args.name, accepted.revision
        );
        Ok::<u8, Failure>(exit::OK)
    })
}
