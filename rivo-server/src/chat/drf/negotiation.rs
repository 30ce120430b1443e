//! DRF's parser selection and `DefaultContentNegotiation` over the original's two renderers,
//! and Python's indented JSON.

use super::multipart::parse_header_parameters;
use super::value::py_strip;

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
