//! The command line of the fe2o3-amqp peer (peers/CONTRACT.md, "Options" and "Defaults").
//!
//! Every bad argument is found here, before a socket is opened: the caller prints one
//! `usage:` line on stderr, exits 2 and writes nothing on stdout.

use serde_json::{json, Value as Json};

pub const ROLES: [&str; 5] = ["hello", "send", "receive", "serve", "request"];

pub const USAGE: &str = "usage: peer {hello|send|receive|serve|request} [--url URL] [--address ADDR] \
[--count N] [--listen] [--reconnect|--no-reconnect] [--timeout SECONDS] [--user U] [--password P] \
[--quiet] [--dynamic-capability SYMBOL]... [REQUEST...]";

const DEFAULT_URL: &str = "amqp://127.0.0.1:5672";
const DEFAULT_ADDRESS: &str = "examples";
const DEFAULT_TIMEOUT: f64 = 30.0;
const DEFAULT_REQUESTS: [&str; 4] = [
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
];

/// What a parse ends with when it does not give options.
#[derive(Debug)]
pub enum ArgError {
    /// `--help`: the usage line, exit 0
    Help,
    /// a usage error: the reason, exit 2
    Usage(String),
}

/// The options of one run, after the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    pub role: String,
    pub host: String,
    pub port: u16,
    pub address: String,
    /// None for the roles that do not use --count (hello, request)
    pub count: Option<u64>,
    pub listen: bool,
    pub reconnect: bool,
    /// seconds; 0 means no deadline
    pub timeout: f64,
    pub user: Option<String>,
    pub password: Option<String>,
    pub quiet: bool,
    pub requests: Vec<String>,
    /// capabilities put on the dynamic source of the request role's reply receiver
    pub dynamic_capabilities: Vec<String>,
}

fn usage(text: impl Into<String>) -> ArgError {
    ArgError::Usage(text.into())
}

fn default_count(role: &str) -> Option<u64> {
    match role {
        "send" | "receive" => Some(100),
        "serve" => Some(0),
        _ => None,
    }
}

fn percent_decode(text: &str, whole: &str) -> Result<String, ArgError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| usage(format!("bad escape in URL: {whole}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| usage(format!("bad escape in URL: {whole}")))
}

/// The parts of `amqp://[user[:password]@]host[:port][/address]` (no scheme means amqp).
#[derive(Debug, Default, PartialEq)]
pub struct ParsedUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub address: Option<String>,
}

pub fn parse_url(text: &str) -> Result<ParsedUrl, ArgError> {
    let bad = || usage(format!("bad URL: {text}"));
    let mut rest = text;
    if let Some(i) = rest.find("://") {
        let scheme = &rest[..i];
        if !scheme.eq_ignore_ascii_case("amqp") {
            return Err(usage(format!(
                "unsupported URL scheme {scheme:?} in {text} (only amqp)"
            )));
        }
        rest = &rest[i + 3..];
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port_text) = if let Some(stripped) = hostport.strip_prefix('[') {
        let end = stripped.find(']').ok_or_else(bad)?;
        let after = &stripped[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (stripped[..end].to_string(), port)
    } else {
        match hostport.rfind(':') {
            Some(i) => (hostport[..i].to_string(), Some(&hostport[i + 1..])),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || "?#[]@".contains(c)) {
        return Err(bad());
    }
    let port = match port_text {
        None | Some("") => 5672,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| usage(format!("bad port in URL: {text}")))?,
    };
    let mut out = ParsedUrl {
        host,
        port,
        ..Default::default()
    };
    if let Some(info) = userinfo {
        let (u, p) = match info.find(':') {
            Some(i) => (&info[..i], Some(&info[i + 1..])),
            None => (info, None),
        };
        if !u.is_empty() {
            out.user = Some(percent_decode(u, text)?);
        }
        if let Some(p) = p.filter(|p| !p.is_empty()) {
            out.password = Some(percent_decode(p, text)?);
        }
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        out.address = Some(percent_decode(p, text)?);
    }
    Ok(out)
}

fn parse_timeout(v: &str) -> Result<f64, ArgError> {
    match v.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && (0.0..=1e9).contains(&t) => Ok(t),
        _ => Err(usage(format!(
            "--timeout needs a number of seconds (0: no deadline), got {v}"
        ))),
    }
}

/// Reads argv (without the program name).
pub fn parse(argv: &[String]) -> Result<Options, ArgError> {
    let role = match argv.first() {
        None => return Err(usage(format!("missing role (one of {})", ROLES.join(", ")))),
        Some(r) if r == "-h" || r == "--help" => return Err(ArgError::Help),
        Some(r) if ROLES.contains(&r.as_str()) => r.clone(),
        Some(r) => return Err(usage(format!("unknown role: {r}"))),
    };
    let mut url_text = DEFAULT_URL.to_string();
    let (mut address, mut user, mut password) = (None, None, None);
    let (mut count, mut timeout) = (None, None);
    let (mut listen, mut reconnect, mut quiet) = (false, true, false);
    let mut positional: Vec<String> = Vec::new();
    let mut dynamic_capabilities = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if arg == "--" {
            positional.extend(argv[i..].iter().cloned());
            break;
        }
        if !arg.starts_with("--") {
            if arg.starts_with('-') && arg != "-" {
                return Err(usage(format!("unknown option: {arg}")));
            }
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.find('=') {
            Some(k) => (&arg[..k], Some(arg[k + 1..].to_string())),
            None => (arg.as_str(), None),
        };
        let takes_value = matches!(
            name,
            "--url" | "--address" | "--count" | "--timeout" | "--user" | "--password"
                | "--dynamic-capability"
        );
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None if i < argv.len() => {
                    i += 1;
                    argv[i - 1].clone()
                }
                None => return Err(usage(format!("option {name} needs a value"))),
            }
        } else {
            if inline.is_some() && name != "--help" {
                return Err(usage(format!("option {name} takes no value")));
            }
            String::new()
        };
        match name {
            "--url" => url_text = value,
            "--address" => {
                if value.is_empty() {
                    return Err(usage("--address must not be empty"));
                }
                address = Some(value);
            }
            "--count" => match value.parse::<u64>() {
                Ok(n) if value.trim() == value => count = Some(n),
                _ => return Err(usage(format!("--count needs a non-negative integer, got {value}"))),
            },
            "--timeout" => timeout = Some(parse_timeout(&value)?),
            "--user" => user = Some(value),
            "--password" => password = Some(value),
            "--dynamic-capability" => {
                if value.is_empty() {
                    return Err(usage("--dynamic-capability needs a symbol"));
                }
                dynamic_capabilities.push(value);
            }
            "--listen" => listen = true,
            "--reconnect" => reconnect = true,
            "--no-reconnect" => reconnect = false,
            "--quiet" => quiet = true,
            "--help" => return Err(ArgError::Help),
            _ => return Err(usage(format!("unknown option: {name}"))),
        }
    }
    if !positional.is_empty() && role != "request" {
        return Err(usage(format!("unexpected argument for {role}: {}", positional[0])));
    }
    if listen && role == "request" {
        return Err(usage("--listen is not supported for the request role"));
    }
    let count = match default_count(&role) {
        Some(d) => Some(count.unwrap_or(d)),
        None => None,
    };
    if role == "send" && count == Some(0) {
        return Err(usage("send needs --count of at least 1"));
    }
    let timeout = timeout.unwrap_or(
        if matches!(role.as_str(), "receive" | "serve") && count == Some(0) {
            0.0 // runs until killed
        } else {
            DEFAULT_TIMEOUT
        },
    );
    let u = parse_url(&url_text)?;
    if u.port == 0 && !listen {
        return Err(usage(format!("port 0 needs --listen: {url_text}")));
    }
    let user = user.or(u.user);
    let password = password.or(u.password);
    if password.is_some() && user.is_none() {
        return Err(usage("--password needs --user"));
    }
    let requests = if role == "request" {
        if positional.is_empty() {
            DEFAULT_REQUESTS.iter().map(|s| s.to_string()).collect()
        } else {
            positional
        }
    } else {
        Vec::new()
    };
    Ok(Options {
        address: address.or(u.address).unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
        host: u.host,
        port: u.port,
        role,
        count,
        listen,
        reconnect,
        timeout,
        user,
        password,
        quiet,
        requests,
        dynamic_capabilities,
    })
}

impl Options {
    /// host:port as it goes in a URL (an IPv6 address in brackets).
    pub fn host_port(&self) -> String {
        host_port(&self.host, self.port)
    }

    pub fn count_or_zero(&self) -> u64 {
        self.count.unwrap_or(0)
    }

    /// The result's `options` object: the values this run uses, after the defaults.
    pub fn effective(&self) -> Json {
        let timeout = if self.timeout.fract() == 0.0 {
            json!(self.timeout as u64)
        } else {
            json!(self.timeout)
        };
        json!({
            "url": format!("amqp://{}", self.host_port()),
            "address": self.address,
            "count": self.count,
            "listen": self.listen,
            "reconnect": self.reconnect,
            "timeout": timeout,
            "user": self.user,
            "password": self.password.as_ref().map(|_| "***"),
            "quiet": self.quiet,
            "requests": if self.role == "request" { json!(self.requests) } else { Json::Null },
            "dynamic_capabilities": self.dynamic_capabilities,
        })
    }
}

pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_per_role() {
        let o = parse(&args(&["serve"])).unwrap();
        assert_eq!((o.count, o.timeout), (Some(0), 0.0));
        let o = parse(&args(&["send"])).unwrap();
        assert_eq!((o.count, o.timeout, o.address.as_str()), (Some(100), 30.0, "examples"));
        let o = parse(&args(&["request"])).unwrap();
        assert_eq!((o.count, o.requests.len()), (None, 4));
    }

    #[test]
    fn url_parts() {
        let u = parse_url("amqp://a%40b:p@[::1]:5673/q%2F1").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 5673);
        assert_eq!(u.user.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_deref(), Some("p"));
        assert_eq!(u.address.as_deref(), Some("q/1"));
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("amqp://x:99999").is_err());
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            vec![],
            vec!["bogus"],
            vec!["send", "--bogus"],
            vec!["receive", "--count", "ten"],
            vec!["send", "--url", "http://127.0.0.1:5672"],
            vec!["send", "--count", "0"],
            vec!["request", "--listen"],
            vec!["send", "--url", "amqp://127.0.0.1:0"],
        ] {
            assert!(matches!(parse(&args(&bad)), Err(ArgError::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn dynamic_capabilities_repeat() {
        let o = parse(&args(&[
            "request",
            "--dynamic-capability",
            "temporary-queue",
            "--dynamic-capability=x",
        ]))
        .unwrap();
        assert_eq!(o.dynamic_capabilities, vec!["temporary-queue", "x"]);
    }
}
