//! Quantities in messages: cores as the stack file writes them, memory in binary units.

/// Thousandths of a core as a stack file would write them: `2`, `0.5`, `1.25`.
pub fn format_cpu(millis: u64) -> String {
    let whole = millis / 1000;
    let frac = millis % 1000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Bytes in the largest binary unit that keeps at most one decimal: `2Gi`, `1.5Gi`, `512Mi`.
pub fn format_memory(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if bytes >= size {
            let tenths = (u128::from(bytes) * 10 / u128::from(size)) as u64;
            return if tenths.is_multiple_of(10) {
                format!("{}{suffix}", tenths / 10)
            } else {
                format!("{}.{}{suffix}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_written_without_trailing_zeros() {
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_cpu(500), "0.5");
        assert_eq!(format_cpu(1250), "1.25");
        assert_eq!(format_cpu(0), "0");
    }

    #[test]
    fn memory_is_written_in_the_largest_binary_unit() {
        assert_eq!(format_memory(2 << 30), "2Gi");
        assert_eq!(format_memory(3 << 29), "1.5Gi");
        assert_eq!(format_memory(512 << 20), "512Mi");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(u64::MAX), "16777215.9Ti"); // truncated, never rounded up
    }
}
