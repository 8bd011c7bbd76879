//! The lines of a JSON-lines file, read as bytes so that a line that is not UTF-8 is an error
//! naming its file and line (the rest of the file still reads).

use std::path::Path;

use super::error::DataError;

/// A line's text, or the error that names it.
pub type Line = Result<String, DataError>;

/// The non-blank lines of `path` with their 1-based numbers (`\n` or `\r\n` endings).
///
/// # Errors
/// The file cannot be read. A line that is not UTF-8 is an `Err` in its place.
pub fn read(path: &Path) -> Result<Vec<(usize, Line)>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match std::str::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => out.push((line, Ok(text.to_string()))),
            Err(e) => out.push((
                line,
                Err(DataError::Line {
                    path: path.to_path_buf(),
                    line,
                    field: "(line)".into(),
                    reason: format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1),
                }),
            )),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_and_a_non_utf8_line_is_named() {
        let path = std::env::temp_dir().join(format!("awpo-lines-{}.jsonl", std::process::id()));
        std::fs::write(&path, b"one\r\n\n  \ntw\xffo\nthree").expect("write");
        let lines = read(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].0, lines[0].1.as_deref().ok()), (1, Some("one")));
        assert_eq!((lines[2].0, lines[2].1.as_deref().ok()), (5, Some("three")));
        let err = lines[1].1.as_ref().expect_err("not UTF-8").to_string();
        assert!(err.contains(&format!("{}:4", path.display())) && err.contains("column 3"), "{err}");
    }
}
