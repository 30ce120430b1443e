use super::json::MAX_JSON_DEPTH;
use super::negotiation::Renderer;
use super::value::float_repr;
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
