//! Size-based rotation: file sizes, order across files, retention, numbering after reopen.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use orco_logs::{Filter, LogConfig, Origin, Record, StackLog};

const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;

fn write(log: &StackLog, from: usize, count: usize) {
    let mut p = log.producer(Origin::service("api", "api-0"));
    for i in from..from + count {
        p.send_bytes(STDOUT, 1, format!("line {i:05}").into_bytes(), false);
    }
    log.sync().unwrap();
}

/// Rotated files by number, then current.
fn files(dir: &Path) -> Vec<(Option<u64>, PathBuf)> {
    let mut out: Vec<(Option<u64>, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem.parse::<u64>().ok(), p)
        })
        .collect();
    out.sort_by_key(|(n, _)| n.unwrap_or(u64::MAX));
    assert_eq!(out.last().unwrap().1.file_name().unwrap(), "current.ndjson");
    out
}

fn seqs_in(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| Record::from_json_line(l.as_bytes()).unwrap().seq)
        .collect()
}

#[test]
fn files_rotate_before_passing_the_size_limit_and_read_back_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 4096,
        keep_files: 1000,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 0, 1000);
    let files = files(log.dir());
    assert!(files.len() > 10, "{} files", files.len());
    let mut all_seqs = Vec::new();
    for (num, path) in &files {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size <= 4096, "{} has {size} bytes", path.display());
        if num.is_some() {
            assert!(size > 4096 - 200, "a rotated file is nearly full: {size}");
        }
        all_seqs.extend(seqs_in(path));
    }
    let want: Vec<u64> = (1..=1000).collect();
    assert_eq!(
        all_seqs, want,
        "seqs increase through the files in number order"
    );
    let numbers: Vec<u64> = files.iter().filter_map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    let records = log.read(&Filter::default()).unwrap();
    let msgs: Vec<String> = records.iter().map(|r| r.msg.clone()).collect();
    assert_eq!(
        msgs,
        (0..1000)
            .map(|i| format!("line {i:05}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn only_the_newest_rotated_files_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 4096,
        keep_files: 2,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 0, 1000);
    let files = files(log.dir());
    assert_eq!(files.len(), 3, "two rotated files and current: {files:?}");
    let numbers: Vec<u64> = files.iter().filter_map(|(n, _)| *n).collect();
    assert!(
        numbers[0] > 2 && numbers[1] == numbers[0] + 1,
        "{numbers:?}"
    );
    let seqs: Vec<u64> = log
        .read(&Filter::default())
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    let first = seqs[0];
    assert!(first > 1);
    assert_eq!(
        seqs,
        (first..=1000).collect::<Vec<_>>(),
        "a contiguous newest part"
    );
}

#[test]
fn numbering_of_files_and_records_continues_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 2048,
        keep_files: 1000,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 0, 100);
    log.close();
    let before = files(log.dir()).len();
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 100, 100);
    let after = files(log.dir());
    assert!(after.len() > before);
    let records = log.read(&Filter::default()).unwrap();
    let got: Vec<(u64, String)> = records.iter().map(|r| (r.seq, r.msg.clone())).collect();
    let want: Vec<(u64, String)> = (0..200)
        .map(|i| (i as u64 + 1, format!("line {i:05}")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn an_empty_current_file_after_rotation_resumes_from_the_rotated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 100,
        keep_files: 10,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 0, 3);
    log.close();
    // Rotate by hand as a crash right after a rotation would leave it.
    std::fs::rename(
        log.dir().join("current.ndjson"),
        log.dir().join("00000100.ndjson"),
    )
    .unwrap();
    let log = StackLog::open(&config, "demo").unwrap();
    write(&log, 3, 1);
    let records = log.read(&Filter::default()).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
}
