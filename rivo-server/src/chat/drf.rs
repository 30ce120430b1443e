//! The original's request parsing and content negotiation, reproduced where Rust's libraries
//! word things differently: Python's `json` module (CPython 3.11, the original's runtime) with
//! DRF's strict constants, Django's multipart parser, Django's `parse_header_parameters`, and
//! DRF's `DefaultContentNegotiation` over the original's two renderers.
//!
//! Everything here works on a body that is already read and bounded (`RIVO_MAX_BODY_BYTES`).

use std::collections::HashMap;
use std::fmt;

/// A parsed JSON value with Python's types (what `json.loads` returns).
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// A number.
    Number(PyNumber),
    /// A `str` (lone surrogate escapes are read as U+FFFD: Rust strings cannot hold them).
    Str(String),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `dict`, in insertion order; a repeated key keeps its first place and its last value.
    Dict(Vec<(String, PyValue)>),
}

/// A JSON number as Python reads it: an `int` (exact, any size) or a `float`.
#[derive(Debug, Clone, PartialEq)]
pub enum PyNumber {
    /// An `int`, as its canonical decimal digits (with `-` when negative).
    Int(String),
    /// A `float`.
    Float(f64),
}

impl PyNumber {
    /// The value as a UUID number (DRF's `UUIDField` takes an `int` as `uuid.UUID(int=…)`):
    /// `None` for floats and ints outside `0..2**128`.
    pub fn as_uuid_int(&self) -> Option<u128> {
        match self {
            PyNumber::Int(digits) if !digits.starts_with('-') => digits.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for PyNumber {
    /// Python's `str()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyNumber::Int(digits) => f.write_str(digits),
            PyNumber::Float(x) => f.write_str(&float_repr(*x)),
        }
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, fixed notation for decimal exponents
/// from -4 to 15, otherwise `1e+16` style with at least two exponent digits.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decpt = exponent + 1;
    let body = if (-3..=16).contains(&decpt) {
        let n = digits.len() as i32;
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let e = decpt - 1;
        format!(
            "{first}{rest}e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        )
    };
    format!("{sign}{body}")
}

impl PyValue {
    /// Python's `type(value).__name__`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Number(PyNumber::Int(_)) => "int",
            PyValue::Number(PyNumber::Float(_)) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Dict(_) => "dict",
        }
    }

    /// Python's `str(value)` (what DRF puts in `"<x>" is not a valid choice.`).
    pub fn py_str(&self) -> String {
        match self {
            PyValue::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_repr(&mut out);
                out
            }
        }
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            PyValue::None => out.push_str("None"),
            PyValue::Bool(true) => out.push_str("True"),
            PyValue::Bool(false) => out.push_str("False"),
            PyValue::Number(n) => out.push_str(&n.to_string()),
            PyValue::Str(s) => write_str_repr(s, out),
            PyValue::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            PyValue::Dict(items) => {
                out.push('{');
                for (i, (key, value)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str_repr(key, out);
                    out.push_str(": ");
                    value.write_repr(out);
                }
                out.push('}');
            }
        }
    }
}

/// Python's `repr(str)`.
fn write_str_repr(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() || py_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one non-ASCII character: not in the Unicode categories
/// "Other" (Cc, Cf, Cs, Co, Cn) or "Separator" (Zl, Zp, Zs).
fn py_printable(c: char) -> bool {
    static NON_PRINTABLE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = NON_PRINTABLE.get_or_init(|| regex::Regex::new(r"^[\p{C}\p{Z}]$").ok());
    let mut buf = [0u8; 4];
    re.as_ref()
        .is_none_or(|re| !re.is_match(c.encode_utf8(&mut buf)))
}

/// Python's `str.strip()` whitespace (`str.isspace`).
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Deepest nesting read. CPython's scanner recurses and fails with `RecursionError` (a 500 in
/// the original) somewhat below 1000 levels, depending on the stack already in use; here the
/// limit is fixed, and beyond it the answer is a 400.
pub const MAX_JSON_DEPTH: usize = 1000;

/// `json.load` of a request body as DRF's `JSONParser` calls it (UTF-8, strict constants).
/// The error is DRF's text after `JSON parse error - `, word for word.
pub fn parse_json(bytes: &[u8]) -> Result<PyValue, String> {
    let text = decode_utf8_like_python(bytes)?;
    if text.starts_with('\u{feff}') {
        return Err(position_error(
            text,
            0,
            "Unexpected UTF-8 BOM (decode using utf-8-sig)",
        ));
    }
    let scanner = Scanner {
        text,
        b: text.as_bytes(),
    };
    let start = scanner.ws(0);
    let (value, end) = scanner.scan(start)?;
    let end = scanner.ws(end);
    if end != scanner.b.len() {
        return Err(position_error(text, end, "Extra data"));
    }
    Ok(value)
}

/// Python's incremental UTF-8 reader (`codecs.getreader('utf-8')` then `read()`): an invalid
/// sequence is a `UnicodeDecodeError`; an incomplete one at the very end is silently dropped.
fn decode_utf8_like_python(bytes: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let pos = err.valid_up_to();
            match err.error_len() {
                None => Ok(std::str::from_utf8(&bytes[..pos]).unwrap_or_default()),
                Some(len) => {
                    let byte = bytes[pos];
                    let reason = if matches!(byte, 0x80..=0xc1 | 0xf5..=0xff) {
                        "invalid start byte"
                    } else {
                        "invalid continuation byte"
                    };
                    Err(if len == 1 {
                        format!(
                            "'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: {reason}"
                        )
                    } else {
                        format!(
                            "'utf-8' codec can't decode bytes in position {pos}-{}: {reason}",
                            pos + len - 1
                        )
                    })
                }
            }
        }
    }
}

/// `json.JSONDecodeError`'s text: `<msg>: line L column C (char P)`, counted in characters.
fn position_error(text: &str, byte_pos: usize, msg: &str) -> String {
    let before = &text[..byte_pos.min(text.len())];
    let pos = before.chars().count();
    let line = before.matches('\n').count() + 1;
    let column = match before.rfind('\n') {
        None => pos + 1,
        Some(nl) => pos - before[..nl].chars().count(),
    };
    format!("{msg}: line {line} column {column} (char {pos})")
}

/// Digits Python 3.11 converts to an `int` at most (`sys.get_int_max_str_digits()`).
const PY_INT_MAX_STR_DIGITS: usize = 4300;

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
}

enum Frame {
    List(Vec<PyValue>),
    Dict {
        items: Vec<(String, PyValue)>,
        index: HashMap<String, usize>,
        key: String,
    },
}

impl Frame {
    fn dict(key: String) -> Self {
        Frame::Dict {
            items: Vec::new(),
            index: HashMap::new(),
            key,
        }
    }
}

impl Scanner<'_> {
    fn err(&self, pos: usize, msg: &str) -> String {
        position_error(self.text, pos, msg)
    }

    fn ws(&self, mut i: usize) -> usize {
        while i < self.b.len() && matches!(self.b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    /// CPython's `scan_once`, without recursion.
    fn scan(&self, mut i: usize) -> Result<(PyValue, usize), String> {
        let b = self.b;
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            if stack.len() > MAX_JSON_DEPTH {
                return Err(self.err(i, "Maximum nesting depth exceeded"));
            }
            let rest = &b[i.min(b.len())..];
            let (mut value, mut end) = match rest.first() {
                None => return Err(self.err(i, "Expecting value")),
                Some(b'"') => {
                    let (s, end) = self.scan_string(i + 1)?;
                    (PyValue::Str(s), end)
                }
                Some(b'{') => {
                    let j = self.ws(i + 1);
                    if b.get(j) == Some(&b'}') {
                        (PyValue::Dict(Vec::new()), j + 1)
                    } else {
                        let (key, j) = self.read_key(j)?;
                        stack.push(Frame::dict(key));
                        i = j;
                        continue;
                    }
                }
                Some(b'[') => {
                    let j = self.ws(i + 1);
                    if b.get(j) == Some(&b']') {
                        (PyValue::List(Vec::new()), j + 1)
                    } else {
                        stack.push(Frame::List(Vec::new()));
                        i = j;
                        continue;
                    }
                }
                _ if rest.starts_with(b"null") => (PyValue::None, i + 4),
                _ if rest.starts_with(b"true") => (PyValue::Bool(true), i + 4),
                _ if rest.starts_with(b"false") => (PyValue::Bool(false), i + 5),
                _ if rest.starts_with(b"NaN") => return Err(strict_constant("NaN")),
                _ if rest.starts_with(b"Infinity") => return Err(strict_constant("Infinity")),
                _ if rest.starts_with(b"-Infinity") => {
                    return Err(strict_constant("-Infinity"));
                }
                _ => self.scan_number(i)?,
            };
            // A value is complete: close the containers it completes.
            loop {
                match stack.last_mut() {
                    None => return Ok((value, end)),
                    Some(Frame::List(items)) => {
                        items.push(value);
                        let j = self.ws(end);
                        match b.get(j) {
                            Some(b']') => {
                                let Some(Frame::List(items)) = stack.pop() else {
                                    unreachable!("the top frame is a list")
                                };
                                value = PyValue::List(items);
                                end = j + 1;
                            }
                            Some(b',') => {
                                i = self.ws(j + 1);
                                break;
                            }
                            _ => return Err(self.err(j, "Expecting ',' delimiter")),
                        }
                    }
                    Some(Frame::Dict { items, index, key }) => {
                        let key = std::mem::take(key);
                        match index.get(&key) {
                            Some(&at) => items[at].1 = value,
                            None => {
                                index.insert(key.clone(), items.len());
                                items.push((key, value));
                            }
                        }
                        let j = self.ws(end);
                        match b.get(j) {
                            Some(b'}') => {
                                let Some(Frame::Dict { items, .. }) = stack.pop() else {
                                    unreachable!("the top frame is a dict")
                                };
                                value = PyValue::Dict(items);
                                end = j + 1;
                            }
                            Some(b',') => {
                                let (next_key, j) = self.read_key(self.ws(j + 1))?;
                                if let Some(Frame::Dict { key, .. }) = stack.last_mut() {
                                    *key = next_key;
                                }
                                i = j;
                                break;
                            }
                            _ => return Err(self.err(j, "Expecting ',' delimiter")),
                        }
                    }
                }
            }
        }
    }

    /// A key, its `:` and the whitespace after it; the index of its value.
    fn read_key(&self, j: usize) -> Result<(String, usize), String> {
        if self.b.get(j) != Some(&b'"') {
            return Err(self.err(j, "Expecting property name enclosed in double quotes"));
        }
        let (key, j) = self.scan_string(j + 1)?;
        let j = self.ws(j);
        if self.b.get(j) != Some(&b':') {
            return Err(self.err(j, "Expecting ':' delimiter"));
        }
        Ok((key, self.ws(j + 1)))
    }

    /// CPython's `scanstring` (strict): `start` is just after the opening quote.
    fn scan_string(&self, start: usize) -> Result<(String, usize), String> {
        let b = self.b;
        let begin = start - 1;
        let mut out = String::new();
        let mut i = start;
        loop {
            let mut j = i;
            while j < b.len() && b[j] != b'"' && b[j] != b'\\' {
                if b[j] <= 0x1f {
                    return Err(self.err(j, "Invalid control character at"));
                }
                j += 1;
            }
            if j >= b.len() {
                return Err(self.err(begin, "Unterminated string starting at"));
            }
            out.push_str(&self.text[i..j]);
            if b[j] == b'"' {
                return Ok((out, j + 1));
            }
            let k = j + 1;
            let Some(&escape) = b.get(k) else {
                return Err(self.err(begin, "Unterminated string starting at"));
            };
            i = k + 1;
            let c = match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    // Four hex digits and at least one more character must follow.
                    let Some(high) = hex4(b, k + 1).filter(|_| k + 5 < b.len()) else {
                        return Err(self.err(k, "Invalid \\uXXXX escape"));
                    };
                    i = k + 5;
                    let mut code = high;
                    if (0xd800..0xdc00).contains(&high)
                        && self.text[i..].chars().take(7).count() == 7
                        && b[i] == b'\\'
                        && b[i + 1] == b'u'
                    {
                        let Some(low) = hex4(b, i + 2) else {
                            return Err(self.err(i + 1, "Invalid \\uXXXX escape"));
                        };
                        if (0xdc00..0xe000).contains(&low) {
                            code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                            i += 6;
                        }
                    }
                    char::from_u32(code).unwrap_or('\u{fffd}')
                }
                _ => return Err(self.err(j, "Invalid \\escape")),
            };
            out.push(c);
        }
    }

    /// CPython's `_match_number_unicode`.
    fn scan_number(&self, start: usize) -> Result<(PyValue, usize), String> {
        let b = self.b;
        let len = b.len();
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let mut i = start;
        if b[i] == b'-' {
            i += 1;
            if i >= len {
                return Err(self.err(start, "Expecting value"));
            }
        }
        if (b'1'..=b'9').contains(&b[i]) {
            i += 1;
            while digit(i) {
                i += 1;
            }
        } else if b[i] == b'0' {
            i += 1;
        } else {
            return Err(self.err(start, "Expecting value"));
        }
        let mut is_float = false;
        if i + 1 < len && b[i] == b'.' && digit(i + 1) {
            is_float = true;
            i += 2;
            while digit(i) {
                i += 1;
            }
        }
        if i + 1 < len && (b[i] == b'e' || b[i] == b'E') {
            let e_start = i;
            i += 1;
            if i + 1 < len && (b[i] == b'-' || b[i] == b'+') {
                i += 1;
            }
            while digit(i) {
                i += 1;
            }
            if digit(i - 1) {
                is_float = true;
            } else {
                i = e_start;
            }
        }
        let literal = &self.text[start..i];
        if is_float {
            return Ok((
                PyValue::Number(PyNumber::Float(literal.parse().unwrap_or(f64::NAN))),
                i,
            ));
        }
        let digits = literal.trim_start_matches('-');
        if digits.len() > PY_INT_MAX_STR_DIGITS {
            return Err(format!(
                "Exceeds the limit ({PY_INT_MAX_STR_DIGITS} digits) for integer string \
                 conversion: value has {} digits; use sys.set_int_max_str_digits() to increase \
                 the limit",
                digits.len()
            ));
        }
        let canonical = if digits == "0" { "0" } else { literal };
        Ok((PyValue::Number(PyNumber::Int(canonical.to_owned())), i))
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// DRF's `strict_constant`.
fn strict_constant(name: &str) -> String {
    format!("Out of range float values are not JSON compliant: '{name}'")
}

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

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
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

/// DRF's `_MediaType`: a media type with its parameters and precedence.
struct MediaType {
    main: String,
    sub: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn parse(text: &str) -> Self {
        let (full, params) = parse_header_parameters(text);
        let (main, sub) = match full.split_once('/') {
            Some((main, sub)) => (main.to_owned(), sub.to_owned()),
            None => (full, String::new()),
        };
        Self { main, sub, params }
    }

    fn precedence(&self) -> u8 {
        if self.main == "*" {
            0
        } else if self.sub == "*" {
            1
        } else if self.params.is_empty() || (self.params.len() == 1 && self.params[0].0 == "q") {
            2
        } else {
            3
        }
    }

    /// `self` is a renderer's type (no parameters), `other` the client's.
    fn satisfies(&self, other: &MediaType) -> bool {
        (self.sub == "*" || other.sub == "*" || other.sub == self.sub)
            && (self.main == "*" || other.main == "*" || other.main == self.main)
    }
}

/// The original's parsers, in DRF's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
}

/// DRF's `select_parser`: the first parser whose media type the request's `Content-Type`
/// matches, wildcards included (`*/*` and `application/*` select JSON).
pub fn select_parser(content_type: &str) -> Option<Parser> {
    let request = MediaType::parse(content_type);
    [
        (Parser::Json, "application/json"),
        (Parser::Form, "application/x-www-form-urlencoded"),
        (Parser::Multipart, "multipart/form-data"),
    ]
    .into_iter()
    .find(|(_, media_type)| MediaType::parse(media_type).satisfies(&request))
    .map(|(parser, _)| parser)
}

/// The original's renderers: `JSONRenderer` and DRF's browsable API (`text/html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// `application/json`, format `json`.
    Json,
    /// `text/html`, format `api`: the original's browsable API. Rivo has none and answers JSON.
    BrowsableApi,
}

impl Renderer {
    const ALL: [Renderer; 2] = [Renderer::Json, Renderer::BrowsableApi];

    fn media_type(self) -> MediaType {
        MediaType::parse(match self {
            Renderer::Json => "application/json",
            Renderer::BrowsableApi => "text/html",
        })
    }

    fn format(self) -> &'static str {
        match self {
            Renderer::Json => "json",
            Renderer::BrowsableApi => "api",
        }
    }
}

/// Why negotiation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationError {
    /// `?format=` (or a format suffix) names no renderer: DRF raises `Http404`.
    UnknownFormat,
    /// No renderer satisfies `Accept`: `406`.
    NotAcceptable,
}

/// DRF's `DefaultContentNegotiation.select_renderer`: the renderer and the JSON indent the
/// client asked for (`Accept: application/json; indent=4`).
pub fn negotiate(
    accept: Option<&str>,
    format: Option<&str>,
) -> Result<(Renderer, Option<usize>), NegotiationError> {
    let renderers: Vec<Renderer> = match format.filter(|f| !f.is_empty()) {
        Some(format) => {
            let found: Vec<Renderer> = Renderer::ALL
                .into_iter()
                .filter(|r| r.format() == format)
                .collect();
            if found.is_empty() {
                return Err(NegotiationError::UnknownFormat);
            }
            found
        }
        None => Renderer::ALL.to_vec(),
    };
    let accepts: Vec<MediaType> = accept
        .unwrap_or("*/*")
        .split(',')
        .map(|token| MediaType::parse(py_strip(token)))
        .collect();
    for precedence in (0..=3).rev() {
        let group: Vec<&MediaType> = accepts
            .iter()
            .filter(|m| m.precedence() == precedence)
            .collect();
        for renderer in &renderers {
            for media_type in &group {
                if renderer.media_type().satisfies(media_type) {
                    let indent = media_type
                        .params
                        .iter()
                        .find(|(name, _)| name == "indent")
                        .and_then(|(_, value)| py_int(value))
                        .map(|n| n.clamp(0, 8) as usize)
                        .filter(|&n| n > 0);
                    return Ok((*renderer, indent));
                }
            }
        }
    }
    Err(NegotiationError::NotAcceptable)
}

/// Python's `int(text)` for small values (whitespace, sign, `_` between digits).
fn py_int(text: &str) -> Option<i64> {
    let text = py_strip(text);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().unwrap_or(i64::MAX);
    Some(if negative { -value } else { value })
}

/// Re-indents compact JSON as Python's `json.dumps(indent=n, separators=(',', ': '))`.
pub fn reindent(compact: &[u8], indent: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * indent));
    };
    let mut i = 0;
    while i < compact.len() {
        let c = compact[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                if compact.get(i + 1) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i += 2;
                    continue;
                }
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        parse_json(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn json_errors_are_worded_like_python() {
        for (body, expected) in [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            ("   ", "Expecting value: line 1 column 4 (char 3)"),
            (
                r#"{"session_id": "#,
                "Expecting value: line 1 column 16 (char 15)",
            ),
            (
                "{'a': 1}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                r#"{"a": 1,}"#,
                "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)",
            ),
            (
                r#"{"a" 1}"#,
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                r#"{"a": 1 "b": 2}"#,
                "Expecting ',' delimiter: line 1 column 9 (char 8)",
            ),
            ("[1, 2", "Expecting ',' delimiter: line 1 column 6 (char 5)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (r#"{"a": 1} x"#, "Extra data: line 1 column 10 (char 9)"),
            (
                "{\n  \"é\": \"x",
                "Unterminated string starting at: line 2 column 8 (char 9)",
            ),
            (
                "\"a\tb\"",
                "Invalid control character at: line 1 column 3 (char 2)",
            ),
            (r#""a\qb""#, "Invalid \\escape: line 1 column 3 (char 2)"),
            (
                r#""\u12x4""#,
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                r#""\ud800\u12x4""#,
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (
                "\u{feff}{}",
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            ),
            ("tru", "Expecting value: line 1 column 1 (char 0)"),
            ("-", "Expecting value: line 1 column 1 (char 0)"),
            ("01", "Extra data: line 1 column 2 (char 1)"),
            ("1.e5", "Extra data: line 1 column 2 (char 1)"),
            (
                r#"{"a": NaN}"#,
                "Out of range float values are not JSON compliant: 'NaN'",
            ),
            (
                "[-Infinity]",
                "Out of range float values are not JSON compliant: '-Infinity'",
            ),
        ] {
            assert_eq!(err(body), expected, "{body:?}");
        }
        assert_eq!(
            parse_json(b"{\"a\": \"\xff\"}").unwrap_err(),
            "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte"
        );
        assert_eq!(
            parse_json(b"\"\xf0\x90\x28\"").unwrap_err(),
            "'utf-8' codec can't decode bytes in position 1-2: invalid continuation byte"
        );
        let long = format!("[{}]", "1".repeat(4301));
        assert!(err(&long).starts_with("Exceeds the limit (4300 digits)"));
        // An incomplete sequence at the very end is dropped by Python's stream reader.
        assert_eq!(
            parse_json(b"\"ab\xe2\x82").unwrap_err(),
            "Unterminated string starting at: line 1 column 1 (char 0)"
        );
    }

    #[test]
    fn values_are_python_values() {
        let v = parse_json(
            br#"{"a": 1, "b": [1.5, 1e16, 0.00001, -0, true, null, "it's"], "a": {"x": "y\n"}}"#,
        )
        .unwrap();
        assert_eq!(
            v.py_str(),
            r#"{'a': {'x': 'y\n'}, 'b': [1.5, 1e+16, 1e-05, 0, True, None, "it's"]}"#
        );
        let v = parse_json(br#"["\ud83d\ude00", "\ud800x", "\u00a0\u00e9"]"#).unwrap();
        assert_eq!(v.py_str(), "['😀', '\u{fffd}x', '\\xa0é']");
        for (x, repr) in [
            (1.0, "1.0"),
            (100000.0, "100000.0"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(float_repr(x), repr);
        }
        let nested = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 2),
            "]".repeat(MAX_JSON_DEPTH + 2)
        );
        assert!(err(&nested).starts_with("Maximum nesting depth exceeded"));
        let ok = format!("{}{}", "[".repeat(900), "]".repeat(900));
        assert!(parse_json(ok.as_bytes()).is_ok());
    }

    #[test]
    fn multipart_is_read_like_django() {
        let ct = "multipart/form-data; boundary=XyZ";
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\\\dir\\\\x.png\"\r\n\r\nPNG\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ntwo\r\n--XyZ\r\nno headers\r\n--XyZ--\r\n";
        assert_eq!(
            parse_multipart(ct, body).unwrap(),
            vec![
                ("a".to_owned(), MultipartValue::Text("one".to_owned())),
                ("a".to_owned(), MultipartValue::Text("two".to_owned())),
                ("f".to_owned(), MultipartValue::File("x.png".to_owned())),
            ]
        );
        assert_eq!(parse_multipart(ct, b"garbage").unwrap(), vec![]);
        assert_eq!(
            parse_multipart("multipart/form-data", b"x").unwrap_err(),
            "Invalid boundary in multipart: None"
        );
        assert_eq!(
            parse_multipart("Multipart/form-data; boundary=a", b"x").unwrap_err(),
            "Invalid Content-Type: Multipart/form-data; boundary=a"
        );
        assert_eq!(
            parse_multipart("multipart/form-data; boundary=\" \"", b"x").unwrap_err(),
            "Invalid boundary in multipart:  "
        );
    }

    #[test]
    fn negotiation_follows_drf() {
        use NegotiationError::*;
        use Renderer::*;
        for (accept, format, expected) in [
            (None, None, Ok((Json, None))),
            (Some("application/xml"), None, Err(NotAcceptable)),
            (Some(""), None, Err(NotAcceptable)),
            (
                Some("text/html,application/xml;q=0.9,*/*;q=0.8"),
                None,
                Ok((BrowsableApi, None)),
            ),
            (
                Some("application/json; indent=4"),
                None,
                Ok((Json, Some(4))),
            ),
            (Some("*/*;indent=20"), None, Ok((Json, Some(8)))),
            (Some("application/*"), None, Ok((Json, None))),
            (None, Some("xml"), Err(UnknownFormat)),
            (None, Some("json"), Ok((Json, None))),
            (Some("text/html"), Some("json"), Err(NotAcceptable)),
            (None, Some(""), Ok((Json, None))),
        ] {
            assert_eq!(negotiate(accept, format), expected, "{accept:?} {format:?}");
        }
    }

    #[test]
    fn reindent_matches_python() {
        assert_eq!(
            String::from_utf8(reindent(br#"{"a":[1,{"b":"x,:{"}],"c":[],"d":{}}"#, 2)).unwrap(),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x,:{\"\n    }\n  ],\n  \"c\": [],\n  \"d\": {}\n}"
        );
    }
}
