//! Where in the file a problem is: the field path of a validation problem, and the line
//! it is on.

use toml::de::{DeTable, DeValue};

/// A validation problem: the field path and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Path of the field: table names, array indexes and key.
    pub path: Vec<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Problem {
    /// A problem at the field named by `path` (table, key).
    pub(crate) fn new(path: &[&str], message: &str) -> Self {
        Self::at(path.iter().map(|s| s.to_string()).collect(), message)
    }
    /// A problem at `path`, which may hold array indexes.
    pub(crate) fn at(path: Vec<String>, message: &str) -> Self {
        Self {
            path,
            message: message.to_string(),
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Line of the field at `path` (`["contact", "1", "uri"]`), or of the nearest table that
/// holds it when the field itself is missing.
pub(super) fn locate(text: &str, path: &[String]) -> usize {
    let Ok(root) = DeTable::parse(text) else {
        return 1;
    };
    let mut line = 1;
    let mut table = root.get_ref();
    let mut value: Option<&DeValue> = None;
    for part in path {
        let next = match value {
            Some(DeValue::Array(items)) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            Some(DeValue::Table(t)) => {
                table = t;
                table.get(part.as_str())
            }
            Some(_) => None,
            None => table.get(part.as_str()),
        };
        let Some(next) = next else { break };
        line = line_of(text, next.span().start);
        value = Some(next.get_ref());
    }
    line
}

/// Names the field a serde error is about, from its span in the text: the key on the
/// error's line, prefixed by the table it sits in (`contact.1.auto_answer`).
pub(super) fn field_from_toml_error(text: &str, err: &toml::de::Error) -> String {
    let Some(span) = err.span() else { return "file".into() };
    let error_line = line_of(text, span.start);
    let mut table = String::new();
    let mut array_counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut key = None;
    for (n, line) in text.lines().enumerate().take(error_line) {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let count = array_counts.entry(name.trim().to_string()).or_insert(0);
            table = format!("{}.{}", name.trim(), *count);
            *count += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = name.trim().to_string();
        }
        if n + 1 == error_line {
            key = line.split_once('=').map(|(k, _)| k.trim().to_string());
        }
    }
    match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => "file".into(),
    }
}
