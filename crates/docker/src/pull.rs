//! Image pulls and their progress.

/// One step of an image pull, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    /// The instance whose start needed the image.
    pub instance: String,
    /// The image, as the stack names it.
    pub image: String,
    /// What happened.
    pub stage: PullStage,
}

/// The steps of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullStage {
    /// The image is not on this machine: the pull begins.
    Started,
    /// The engine's report on one layer (or on the whole pull when `layer` is `None`).
    Progress {
        /// The layer id, when the report is about one layer.
        layer: Option<String>,
        /// The engine's words, e.g. `Downloading`, `Pull complete`.
        status: String,
        /// Bytes done, when known.
        current: Option<u64>,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// The image is here.
    Done,
    /// The pull failed; the registry's answer.
    Failed {
        /// What the engine or the registry said.
        answer: String,
    },
}

impl std::fmt::Display for PullProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: pulling {}: ", self.instance, self.image)?;
        match &self.stage {
            PullStage::Started => f.write_str("started"),
            PullStage::Progress {
                layer,
                status,
                current,
                total,
            } => {
                if let Some(layer) = layer {
                    write!(f, "{layer} ")?;
                }
                f.write_str(status)?;
                match (current, total) {
                    (Some(c), Some(t)) if *t > 0 => write!(f, " {c}/{t} bytes"),
                    _ => Ok(()),
                }
            }
            PullStage::Done => f.write_str("done"),
            PullStage::Failed { answer } => write!(f, "failed: {answer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_one_line_naming_the_instance_and_image() {
        let p = PullProgress {
            instance: "shop.db-0".into(),
            image: "busybox".into(),
            stage: PullStage::Progress {
                layer: Some("a1b2".into()),
                status: "Downloading".into(),
                current: Some(10),
                total: Some(100),
            },
        };
        assert_eq!(
            p.to_string(),
            "shop.db-0: pulling busybox: a1b2 Downloading 10/100 bytes"
        );
    }
}
