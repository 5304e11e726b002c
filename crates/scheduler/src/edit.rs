//! `orco node label` and `orco node taint`: edits of a node's labels and taints, checked and
//! applied purely (the API records the result as one event, or nothing on any error).

use std::collections::BTreeMap;

use crate::model::Taint;

/// The longest label key, as Kubernetes allows (a prefix and a name).
const MAX_KEY: usize = 253;
/// The longest label or taint value.
const MAX_VALUE: usize = 63;
/// Labels orco derives itself (anchors): never set by hand.
const RESERVED: &str = "orco.anchor/";

fn key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn value_ok(value: &str) -> bool {
    value.len() <= MAX_VALUE
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn check_key(what: &str, edit: &str, key: &str) -> Result<(), String> {
    if !key_ok(key) {
        return Err(format!(
            "{what} {edit:?}: the key must start with a letter or digit and hold only letters, digits, `-`, `_`, `.` and `/` (at most {MAX_KEY} characters)"
        ));
    }
    if key.starts_with(RESERVED) {
        return Err(format!(
            "{what} {edit:?}: keys under `{RESERVED}` are set by orco itself"
        ));
    }
    Ok(())
}

fn check_value(what: &str, edit: &str, value: &str) -> Result<(), String> {
    if !value_ok(value) {
        return Err(format!(
            "{what} {edit:?}: the value may hold only letters, digits, `-`, `_` and `.` (at most {MAX_VALUE} characters)"
        ));
    }
    Ok(())
}

/// `labels` after `edits`, each `KEY=VALUE` (set) or `KEY-` (remove; a key the node does
/// not have is no error). The first bad edit is the error, and nothing is changed.
pub fn edit_labels(
    labels: &BTreeMap<String, String>,
    edits: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = labels.clone();
    for edit in edits {
        if let Some(key) = edit.strip_suffix('-')
            && !edit.contains('=')
        {
            check_key("label", edit, key)?;
            out.remove(key);
            continue;
        }
        let Some((key, value)) = edit.split_once('=') else {
            return Err(format!(
                "label {edit:?}: write KEY=VALUE to set a label, or KEY- to remove one"
            ));
        };
        check_key("label", edit, key)?;
        check_value("label", edit, value)?;
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// `taints` after `edits`, each `KEY[=VALUE][:NoSchedule|NoExecute]` (add; it replaces a
/// taint of the same key and effect) or `KEY-` (remove every taint of that key; a key the
/// node does not have is no error). Taints are kept in their written form, `:NoSchedule`
/// left out. The first bad edit is the error, and nothing is changed.
pub fn edit_taints(taints: &[String], edits: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<Taint> = taints.iter().filter_map(|t| t.parse().ok()).collect();
    for edit in edits {
        if let Some(key) = edit.strip_suffix('-')
            && !edit.contains(['=', ':'])
        {
            check_key("taint", edit, key)?;
            out.retain(|t| t.key != key);
            continue;
        }
        let taint: Taint = edit.parse()?;
        check_key("taint", edit, &taint.key)?;
        check_value("taint", edit, &taint.value)?;
        out.retain(|t| !(t.key == taint.key && t.effect == taint.effect));
        out.push(taint);
    }
    Ok(out.iter().map(Taint::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn edits(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn labels_are_set_replaced_and_removed_in_order() {
        let before = labels(&[("disk", "hdd"), ("zone", "a")]);
        let after = edit_labels(&before, &edits(&["disk=ssd", "zone-", "gpu=", "absent-"]));
        assert_eq!(after, Ok(labels(&[("disk", "ssd"), ("gpu", "")])));
    }

    #[test]
    fn a_bad_label_edit_is_an_error_naming_it_and_nothing_changes() {
        let before = labels(&[("disk", "hdd")]);
        for (edit, says) in [
            ("disk", "write KEY=VALUE"),
            ("=ssd", "the key must start"),
            ("di sk=ssd", "the key must start"),
            ("disk=s s d", "the value may hold only"),
            ("orco.anchor/web.db=true", "set by orco itself"),
        ] {
            let e = edit_labels(&before, &edits(&["zone=a", edit])).unwrap_err();
            assert!(
                e.contains(&format!("{edit:?}")) && e.contains(says),
                "{edit}: {e}"
            );
        }
    }

    #[test]
    fn a_taint_replaces_one_of_the_same_key_and_effect_and_key_minus_removes_all() {
        let before = edits(&["gpu=a", "gpu=b:NoExecute", "spot"]);
        let after = edit_taints(&before, &edits(&["gpu=c:NoSchedule"])).unwrap();
        assert_eq!(after, edits(&["gpu=b:NoExecute", "spot", "gpu=c"]));
        let after = edit_taints(&after, &edits(&["gpu-", "maint=now:NoExecute"])).unwrap();
        assert_eq!(after, edits(&["spot", "maint=now:NoExecute"]));
    }

    #[test]
    fn a_bad_taint_edit_is_an_error_naming_it() {
        for (edit, says) in [
            ("gpu=a:NoRun", "unknown effect \"NoRun\""),
            ("=a", "the key must"),
            ("gpu=a b", "the value may hold only"),
        ] {
            let e = edit_taints(&[], &edits(&[edit])).unwrap_err();
            assert!(e.contains(says), "{edit}: {e}");
        }
    }
}
