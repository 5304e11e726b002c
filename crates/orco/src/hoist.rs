//! Connection flags before the verb: `orco --host URL --ca-file F status` means `orco status
//! --host URL --ca-file F`. The flags that say which daemon and how to trust it belong to the
//! verbs (clap knows them there); a leading run of them is moved after the verb's own
//! arguments (before a `--`, whose rest is a command line), so both orders work.

use std::ffi::OsString;

/// The flags that may come before the verb; each takes a value.
const CONNECTION: &[&str] = &[
    "--host",
    "--token-file",
    "--ca-file",
    "--ca-pin",
    "--timeout",
];

/// `args` (the program name first) with a leading run of connection flags moved after the
/// verb's arguments; unchanged when it starts with none.
pub(crate) fn connection_flags_after_the_verb(args: Vec<OsString>) -> Vec<OsString> {
    let Some((program, rest)) = args.split_first() else {
        return args;
    };
    let mut moved = Vec::new();
    let mut at = 0;
    while let Some(arg) = rest.get(at).and_then(|a| a.to_str()) {
        if CONNECTION.contains(&arg) && rest.len() > at + 1 {
            moved.extend_from_slice(&rest[at..at + 2]);
            at += 2;
        } else if CONNECTION
            .iter()
            .any(|flag| arg.strip_prefix(flag).is_some_and(|v| v.starts_with('=')))
        {
            moved.push(rest[at].clone());
            at += 1;
        } else {
            break;
        }
    }
    if moved.is_empty() || at == rest.len() {
        return args;
    }
    let verb = &rest[at..];
    let end = verb.iter().position(|a| a == "--").unwrap_or(verb.len());
    let mut out = vec![program.clone()];
    out.extend_from_slice(&verb[..end]);
    out.extend(moved);
    out.extend_from_slice(&verb[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoist(line: &str) -> String {
        let args = line.split(' ').map(OsString::from).collect();
        let out: Vec<String> = connection_flags_after_the_verb(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn connection_flags_before_the_verb_move_after_it() {
        assert_eq!(
            hoist("orco --host https://h:1 --ca-file ca.crt status -o json"),
            "orco status -o json --host https://h:1 --ca-file ca.crt"
        );
        assert_eq!(
            hoist("orco --ca-pin=abc job status 3"),
            "orco job status 3 --ca-pin=abc"
        );
        assert_eq!(
            hoist("orco --host unix:///s run web -- sleep 1"),
            "orco run web --host unix:///s -- sleep 1"
        );
    }

    #[test]
    fn anything_else_is_left_for_clap_to_judge() {
        for line in [
            "orco status --host x",
            "orco --verbose status",
            "orco --host",
            "orco --host x",
        ] {
            assert_eq!(hoist(line), line);
        }
    }
}
