//! Typed ids, each with one string form used in the log, the API and the CLI.
//!
//! | id | string form | example |
//! |---|---|---|
//! | [`StackName`] | `STACK` | `demo` |
//! | [`WorkloadId`] | `STACK/WORKLOAD` | `demo/web` |
//! | [`InstanceId`] | `STACK/SERVICE-N` | `demo/web-0` |
//! | [`JobRunId`] | `STACK/JOB#RUN` | `demo/backup#3` |
//! | [`TaskId`] | `STACK/JOB#RUN/TASK` | `demo/backup#3/dump` |
//!
//! Names never contain `/` or `#` (the stack file allows `[a-z0-9_-]`), so the forms parse
//! back unambiguously; an instance's replica number is what follows its last `-`. Every id
//! serializes as its string form, which also makes it usable as a JSON map key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that is not a well-formed id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {input:?}: expected {expected}")]
pub struct IdError {
    kind: &'static str,
    input: String,
    expected: &'static str,
}

impl IdError {
    fn new(kind: &'static str, input: &str, expected: &'static str) -> IdError {
        IdError {
            kind,
            input: input.to_owned(),
            expected,
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '#'])
}

/// Implements `Display`, `FromStr` and string serde for an id type.
macro_rules! string_id {
    ($ty:ident) => {
        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.to_string()
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(s: String) -> Result<$ty, IdError> {
                s.parse()
            }
        }
    };
}

/// The name of a stack (`stack.name` in the stack file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StackName(String);

impl StackName {
    /// A stack name; fails on an empty name or one containing `/` or `#`.
    pub fn new(name: impl Into<String>) -> Result<StackName, IdError> {
        let name = name.into();
        if valid_name(&name) {
            Ok(StackName(name))
        } else {
            Err(IdError::new(
                "stack",
                &name,
                "a non-empty name without '/' or '#'",
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StackName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<StackName, IdError> {
        StackName::new(s)
    }
}

string_id!(StackName);

/// A workload (service or job) of a stack: `STACK/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkloadId {
    /// The stack the workload belongs to.
    pub stack: StackName,
    /// The workload's name in the stack file.
    pub name: String,
}

impl WorkloadId {
    /// A workload id; fails when the name is empty or contains `/` or `#`.
    pub fn new(stack: StackName, name: impl Into<String>) -> Result<WorkloadId, IdError> {
        let name = name.into();
        if valid_name(&name) {
            Ok(WorkloadId { stack, name })
        } else {
            Err(IdError::new(
                "workload",
                &name,
                "a non-empty name without '/' or '#'",
            ))
        }
    }

    /// The instance `NAME-replica` of this workload.
    pub fn instance(&self, replica: u32) -> InstanceId {
        InstanceId {
            workload: self.clone(),
            replica,
        }
    }
}

impl fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stack, self.name)
    }
}

impl FromStr for WorkloadId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<WorkloadId, IdError> {
        const EXPECTED: &str = "STACK/WORKLOAD";
        let (stack, name) = s
            .split_once('/')
            .ok_or_else(|| IdError::new("workload", s, EXPECTED))?;
        let stack = StackName::new(stack).map_err(|_| IdError::new("workload", s, EXPECTED))?;
        WorkloadId::new(stack, name).map_err(|_| IdError::new("workload", s, EXPECTED))
    }
}

string_id!(WorkloadId);

/// One replica of a service: `STACK/SERVICE-N`, N from 0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId {
    /// The service this is a replica of.
    pub workload: WorkloadId,
    /// The replica slot (the `N` in `SERVICE-N`).
    pub replica: u32,
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.workload, self.replica)
    }
}

impl FromStr for InstanceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<InstanceId, IdError> {
        const EXPECTED: &str = "STACK/SERVICE-N";
        let err = || IdError::new("instance", s, EXPECTED);
        let (workload, replica) = s.rsplit_once('-').ok_or_else(err)?;
        let replica = replica.parse().map_err(|_| err())?;
        let workload = workload.parse().map_err(|_| err())?;
        Ok(InstanceId { workload, replica })
    }
}

string_id!(InstanceId);

/// One run of a job: `STACK/JOB#RUN`, RUN counting from 1 per job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobRunId {
    /// The job.
    pub job: WorkloadId,
    /// The run number.
    pub run: u64,
}

impl fmt::Display for JobRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.job, self.run)
    }
}

impl FromStr for JobRunId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<JobRunId, IdError> {
        const EXPECTED: &str = "STACK/JOB#RUN";
        let err = || IdError::new("job run", s, EXPECTED);
        let (job, run) = s.split_once('#').ok_or_else(err)?;
        let run = run.parse().map_err(|_| err())?;
        let job = job.parse().map_err(|_| err())?;
        Ok(JobRunId { job, run })
    }
}

string_id!(JobRunId);

/// One task of a job run: `STACK/JOB#RUN/TASK`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId {
    /// The job run the task belongs to.
    pub run: JobRunId,
    /// The task's name in the job.
    pub task: String,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.run, self.task)
    }
}

impl FromStr for TaskId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<TaskId, IdError> {
        const EXPECTED: &str = "STACK/JOB#RUN/TASK";
        let err = || IdError::new("task", s, EXPECTED);
        let (run, task) = s.rsplit_once('/').ok_or_else(err)?;
        if !valid_name(task) {
            return Err(err());
        }
        let run = run.parse().map_err(|_| err())?;
        Ok(TaskId {
            run,
            task: task.to_owned(),
        })
    }
}

string_id!(TaskId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_back() {
        let web = WorkloadId::new(StackName::new("demo").unwrap(), "web-api").unwrap();
        let instance = web.instance(3);
        assert_eq!(instance.to_string(), "demo/web-api-3");
        assert_eq!("demo/web-api-3".parse::<InstanceId>().unwrap(), instance);
        let run = JobRunId {
            job: web.clone(),
            run: 7,
        };
        let task = TaskId {
            run: run.clone(),
            task: "dump".into(),
        };
        assert_eq!(task.to_string(), "demo/web-api#7/dump");
        assert_eq!(task.to_string().parse::<TaskId>().unwrap(), task);
        assert_eq!(run.to_string().parse::<JobRunId>().unwrap(), run);
    }

    #[test]
    fn malformed_ids_are_rejected_with_the_expected_form() {
        let err = "demo/web".parse::<InstanceId>().unwrap_err();
        assert!(err.to_string().contains("STACK/SERVICE-N"), "{err}");
        assert!("web-0".parse::<InstanceId>().is_err());
        assert!("/web-0".parse::<InstanceId>().is_err());
        assert!("demo/web-x".parse::<InstanceId>().is_err());
        assert!("demo/job#1/".parse::<TaskId>().is_err());
        assert!(StackName::new("").is_err());
    }
}
