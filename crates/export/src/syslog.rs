//! RFC 5424 syslog messages and RFC 6587 octet-counting framing (for TCP and TLS, RFC 5425).

/// Facility local0 (16): the usual choice for a security appliance's own events.
pub const DEFAULT_FACILITY: u8 = 16;
/// Private enterprise number 32473 is reserved for documentation (RFC 5612); structured
/// data ids with it are valid without a registration.
pub const SD_ID: &str = "palisade@32473";

/// Syslog severity (RFC 5424 §6.2.1) for an alert severity.
pub fn severity(alert_severity: &str) -> u8 {
    match alert_severity {
        "critical" => 2,
        "high" => 3,
        "medium" => 4,
        "low" => 5,
        _ => 6,
    }
}

/// The header fields of one message.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    pub facility: u8,
    pub severity: u8,
    /// RFC 3339 timestamp, or empty for NILVALUE.
    pub timestamp: &'a str,
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: &'a str,
    pub msgid: &'a str,
}

/// PRINTUSASCII only, truncated to `max`; NILVALUE (`-`) when empty.
fn field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// SD-PARAM values escape `"`, `\` and `]` (RFC 5424 §6.3.3).
fn sd_value(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// SD-NAME: printable ASCII except `=`, space, `]`, `"`; at most 32 characters.
fn sd_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect()
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
pub fn message(h: &Header<'_>, params: &[(&str, String)], msg: &str) -> String {
    let pri = u16::from(h.facility.min(23)) * 8 + u16::from(h.severity.min(7));
    let sd = if params.is_empty() {
        "-".to_string()
    } else {
        let mut s = format!("[{SD_ID}");
        for (k, v) in params {
            let k = sd_name(k);
            if !k.is_empty() {
                s.push_str(&format!(" {k}=\"{}\"", sd_value(v)));
            }
        }
        s.push(']');
        s
    };
    let body = msg.replace(['\r', '\n'], " ");
    format!(
        "<{pri}>1 {} {} {} {} {} {sd}{}{body}",
        field(h.timestamp, 64),
        field(h.hostname, 255),
        field(h.app_name, 48),
        field(h.procid, 128),
        field(h.msgid, 32),
        if body.is_empty() { "" } else { " " },
    )
}

/// RFC 6587 octet counting: `LEN SP MSG` (TCP and TLS transports).
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut v = format!("{} ", msg.len()).into_bytes();
    v.extend_from_slice(msg.as_bytes());
    v
}
