//! Python's values as `json.loads` returns them, and their `str()` and `repr()`.

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
pub(super) fn py_printable(c: char) -> bool {
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

/// Python's `str.strip()`.
pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}
