//! Keys of each section, in the order the docs list them. The schema test checks that these
//! and the JSON Schema name the same keys.

/// Top level.
pub const STACK: &[&str] = &[
    "version", "stack", "defaults", "services", "jobs", "secrets",
];
/// `{secret: NAME}` in `env`.
pub const SECRET_REF: &[&str] = &["secret"];
/// A secret of the top-level `secrets:`.
pub const SECRET: &[&str] = &["file", "env"];
/// `stack:`.
pub const META: &[&str] = &["name", "workdir"];
/// `defaults:`.
pub const DEFAULTS: &[&str] = &["restartPolicy", "health", "stop"];
/// A service.
pub const SERVICE: &[&str] = &[
    "runtime",
    "command",
    "image",
    "env",
    "envFromFile",
    "secrets",
    "workdir",
    "ports",
    "entrypoint",
    "volumes",
    "proxy",
    "replicas",
    "dependsOn",
    "health",
    "restartPolicy",
    "stop",
    "update",
    "resources",
    "placement",
    "onDisconnect",
];
/// A `dependsOn` entry of a service or job.
pub const DEPENDENCY: &[&str] = &["target", "require", "timeout", "restart"];
/// `health:`.
pub const HEALTH: &[&str] = &[
    "http",
    "tcp",
    "cmd",
    "log",
    "expression",
    "gracePeriod",
    "interval",
    "timeout",
    "successThreshold",
    "failureThreshold",
    "onFailure",
];
/// `health.http`.
pub const HTTP: &[&str] = &["url", "expectStatus", "headers"];
/// `health.tcp`.
pub const TCP: &[&str] = &["host", "port"];
/// `health.cmd`.
pub const CMD: &[&str] = &["command"];
/// `health.log`.
pub const LOG: &[&str] = &["pattern", "sources"];
/// `restartPolicy:`.
pub const RESTART: &[&str] = &["mode", "maxRetries", "backoff", "resetAfter"];
/// `backoff:`.
pub const BACKOFF: &[&str] = &["min", "max", "factor"];
/// `stop:`.
pub const STOP: &[&str] = &["signal", "timeout"];
/// `update:`.
pub const UPDATE: &[&str] = &["strategy", "maxUnavailable", "maxSurge"];
/// A job.
pub const JOB: &[&str] = &[
    "priority",
    "parallelism",
    "continueOnFailure",
    "schedule",
    "tasks",
    "dependsOn",
    "resources",
    "placement",
];
/// `schedule:`.
pub const SCHEDULE: &[&str] = &["cron", "timezone", "overlap"];
/// A task.
pub const TASK: &[&str] = &[
    "command",
    "env",
    "envFromFile",
    "secrets",
    "workdir",
    "timeout",
    "retry",
    "dependsOn",
    "resources",
    "placement",
];
/// `retry:`.
pub const RETRY: &[&str] = &["maxRetries", "backoff"];
/// A task's `dependsOn` entry.
pub const TASK_DEPENDENCY: &[&str] = &["target", "require"];
/// `resources:`.
pub const RESOURCES: &[&str] = &["cpu", "memory", "limits"];
/// `resources.limits:`.
pub const LIMITS: &[&str] = &["cpu", "memory"];
/// `placement:`.
pub const PLACEMENT: &[&str] = &[
    "nodeSelector",
    "anchor",
    "antiAffinity",
    "spread",
    "tolerations",
    "strategy",
];
/// `placement.spread:`.
pub const SPREAD: &[&str] = &["by", "maxSkew", "hard"];
