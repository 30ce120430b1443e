//! Python's `json` module (CPython 3.11) as DRF's `JSONParser` calls it, errors worded alike.

use std::collections::HashMap;

use super::value::{PyNumber, PyValue};

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
