//! Django's header parameters and `MultiPartParser`.

use super::value::{py_printable, py_strip};

/// Django's `parse_header_parameters`: the lowercased main value and the parameters (names
/// lowercased, values unquoted), later parameters replacing earlier ones of the same name.
pub fn parse_header_parameters(line: &str) -> (String, Vec<(String, String)>) {
    let mut parts = header_parts(line).into_iter();
    let key = parts.next().unwrap_or_default().to_lowercase();
    let mut params: Vec<(String, String)> = Vec::new();
    for part in parts {
        let Some(eq) = part.find('=') else { continue };
        let mut name = py_strip(&part[..eq]).to_lowercase();
        if name.ends_with('*') {
            name.pop();
        }
        let mut value = py_strip(&part[eq + 1..]).to_owned();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = value[1..value.len() - 1]
                .replace("\\\\", "\\")
                .replace("\\\"", "\"");
        }
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name, value)),
        }
    }
    (key, params)
}

/// Django's `_parseparam`: `;`-separated parts, a `;` inside quotes kept.
fn header_parts(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = format!(";{line}");
    while let Some(rest) = s.strip_prefix(';') {
        let rest = rest.to_owned();
        let mut end = rest.find(';');
        while let Some(e) = end {
            let quotes = rest[..e].matches('"').count() - rest[..e].matches("\\\"").count();
            if e == 0 || quotes % 2 == 0 {
                break;
            }
            end = rest[e + 1..].find(';').map(|n| e + 1 + n);
        }
        let end = end.unwrap_or(rest.len());
        out.push(py_strip(&rest[..end]).to_owned());
        s = rest[end..].to_owned();
    }
    out
}

/// One field of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub enum MultipartValue {
    /// A form field, decoded as UTF-8 (invalid bytes replaced).
    Text(String),
    /// An uploaded file; DRF's `str()` of it is its (sanitised) name.
    File(String),
}

/// Django's `MultiPartParser` (through DRF's `MultiPartParser`): the content-type checks with
/// their error texts, then a lenient read of the parts: whatever is not a well-formed part
/// with a `Content-Disposition` name is skipped, as Django skips it. Form fields come first,
/// then files (DRF adds the files after the fields). The error is DRF's text after
/// `Multipart form parse error - `.
pub fn parse_multipart(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<(String, MultipartValue)>, String> {
    if !content_type.starts_with("multipart/") {
        return Err(format!("Invalid Content-Type: {content_type}"));
    }
    if !content_type.is_ascii() {
        return Err(format!(
            "Invalid non-ASCII Content-Type in multipart: {content_type}"
        ));
    }
    let (_, params) = parse_header_parameters(content_type);
    let boundary = params
        .iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value.as_str());
    let boundary = match boundary {
        Some(b) if !b.is_empty() && django_boundary_ok(b) => b,
        Some(b) => return Err(format!("Invalid boundary in multipart: {b}")),
        None => return Err("Invalid boundary in multipart: None".to_owned()),
    };
    let separator = [b"--", boundary.as_bytes()].concat();
    let mut fields = Vec::new();
    let mut files = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let piece = match find(rest, &separator) {
            Some(at) => {
                let mut end = at;
                if end > 0 && rest[end - 1] == b'\n' {
                    end -= 1;
                }
                if end > 0 && rest[end - 1] == b'\r' {
                    end -= 1;
                }
                let piece = &rest[..end];
                rest = &rest[at + separator.len()..];
                piece
            }
            None => std::mem::take(&mut rest),
        };
        if let Some((name, value)) = multipart_part(piece) {
            match value {
                MultipartValue::File(_) => files.push((name, value)),
                MultipartValue::Text(_) => fields.push((name, value)),
            }
        }
    }
    fields.extend(files);
    Ok(fields)
}

/// Django's `boundary_re.match`: `[ -~]{0,200}[!-~]` at the start.
fn django_boundary_ok(boundary: &str) -> bool {
    boundary
        .bytes()
        .take_while(|b| (b' '..=b'~').contains(b))
        .take(201)
        .any(|b| b != b' ')
}

/// Where `needle` first occurs (linear time: a hostile body cannot make it quadratic).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn split_crlf(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    while let Some(at) = find(bytes, b"\r\n") {
        lines.push(&bytes[..at]);
        bytes = &bytes[at + 2..];
    }
    lines.push(bytes);
    lines
}

/// Django's `parse_boundary_stream` plus the field/file step of `MultiPartParser.parse`.
fn multipart_part(piece: &[u8]) -> Option<(String, MultipartValue)> {
    let head = &piece[..piece.len().min(1024)];
    let header_end = find(head, b"\r\n\r\n")?;
    let data = &piece[header_end + 4..];
    let mut disposition: Option<Vec<(String, String)>> = None;
    for line in split_crlf(&head[..header_end]) {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let (main, params) = parse_header_parameters(line);
        let Some((name, _)) = main.split_once(':') else {
            continue;
        };
        if name == "content-disposition" {
            disposition = Some(params);
        }
    }
    let params = disposition?;
    let get = |key: &str| {
        params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    };
    let field = get("name")?
        .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}')
        .to_owned();
    match get("filename").filter(|f| !f.is_empty()) {
        None => Some((
            field,
            MultipartValue::Text(String::from_utf8_lossy(data).into_owned()),
        )),
        Some(file_name) => {
            let base = file_name.rsplit('/').next().unwrap_or_default();
            let base = base.rsplit('\\').next().unwrap_or_default();
            let clean: String = base
                .chars()
                .filter(|&c| {
                    if c.is_ascii() {
                        !c.is_ascii_control()
                    } else {
                        py_printable(c)
                    }
                })
                .collect();
            if clean.is_empty() || clean == "." || clean == ".." {
                return None;
            }
            Some((field, MultipartValue::File(clean)))
        }
    }
}
