package main

// The command line of the go-amqp peer (peers/CONTRACT.md). Every bad argument is
// found here, before a socket is opened: one stderr line, exit 2, nothing on stdout.

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

var roles = []string{"hello", "send", "receive", "serve", "request"}

// The option defaults of peers/CONTRACT.md (table "Defaults", data in peers/defaults.json).
const (
	defaultURL     = "amqp://127.0.0.1:5672"
	defaultAddress = "examples"
	defaultTimeout = 30.0 // 0 (no deadline) for receive and serve with --count 0
)

var defaultCount = map[string]int{"send": 100, "receive": 100, "serve": 0} // hello, request: unused

var defaultRequests = []string{
	"Twas brillig, and the slithy toves",
	"Did gire and gymble in the wabe.",
	"All mimsy were the borogroves,",
	"And the mome raths outgrabe.",
}

const usage = "usage: peer {hello|send|receive|serve|request} [--url URL] [--address ADDR] [--count N]" +
	" [--reconnect|--no-reconnect] [--timeout SECONDS] [--user U] [--password P] [--quiet] [--dynamic-capability SYMBOL]... [REQUEST...]"

// errHelp asks for the usage line and exit 0.
var errHelp = errors.New("help")

type options struct {
	role      string
	host      string
	port      int
	address   string
	count     int
	listen    bool
	reconnect bool
	timeout   float64
	user      *string
	password  *string
	quiet     bool
	requests  []string
	// dynamicCaps: --dynamic-capability, symbols on the request role's dynamic reply source
	dynamicCaps []string
}

func usageError(format string, a ...any) error {
	return fmt.Errorf(format, a...)
}

var urlPattern = regexp.MustCompile(
	`^(?:([^:@/]*)(?::([^@/]*))?@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#@\[\]]+)(?::(\d*))?(?:/(.*))?$`)

type parsedURL struct {
	host     string
	port     int
	user     *string
	password *string
	address  string
}

// parseURL reads amqp://[user[:password]@]host[:port][/address]; no scheme means amqp.
func parseURL(text string) (parsedURL, error) {
	rest := text
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme := rest[:i]
		if strings.ToLower(scheme) != "amqp" {
			return parsedURL{}, usageError("unsupported URL scheme %q in %s (only amqp)", scheme, text)
		}
		rest = rest[i+3:]
	}
	m := urlPattern.FindStringSubmatch(rest)
	if m == nil {
		return parsedURL{}, usageError("bad URL: %s", text)
	}
	out := parsedURL{host: strings.Trim(m[3], "[]"), port: 5672}
	if m[4] != "" {
		port, err := strconv.Atoi(m[4])
		if err != nil || port > 65535 {
			return parsedURL{}, usageError("bad port in URL: %s", text)
		}
		out.port = port
	}
	if out.port == 0 {
		return parsedURL{}, usageError("port 0 needs --listen, which this peer does not support: %s", text)
	}
	decode := func(s string) (*string, error) {
		if s == "" {
			return nil, nil
		}
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, usageError("bad escape in URL: %s", text)
		}
		return &v, nil
	}
	var err error
	if out.user, err = decode(m[1]); err != nil {
		return parsedURL{}, err
	}
	if out.password, err = decode(m[2]); err != nil {
		return parsedURL{}, err
	}
	addr, err := decode(m[5])
	if err != nil {
		return parsedURL{}, err
	}
	if addr != nil {
		out.address = *addr
	}
	return out, nil
}

// parseArgs reads argv (without the program name).
func parseArgs(argv []string) (*options, error) {
	if len(argv) == 0 {
		return nil, usageError("missing role (one of %s)", strings.Join(roles, ", "))
	}
	role := argv[0]
	if role == "-h" || role == "--help" {
		return nil, errHelp
	}
	known := false
	for _, r := range roles {
		known = known || r == role
	}
	if !known {
		return nil, usageError("unknown role: %s", role)
	}
	o := &options{role: role, reconnect: true, count: -1, timeout: -1}
	urlText := defaultURL
	var positional []string
	var address, user, password *string
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			positional = append(positional, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "--") {
			if strings.HasPrefix(arg, "-") && arg != "-" {
				return nil, usageError("unknown option: %s", arg)
			}
			positional = append(positional, arg)
			continue
		}
		name, inline, hasInline := strings.Cut(arg, "=")
		value := func() (string, error) {
			if hasInline {
				return inline, nil
			}
			if i+1 >= len(argv) {
				return "", usageError("option %s needs a value", name)
			}
			i++
			return argv[i], nil
		}
		flag := func() error {
			if hasInline {
				return usageError("option %s takes no value", name)
			}
			return nil
		}
		var v string
		var err error
		switch name {
		case "--url":
			urlText, err = value()
		case "--address":
			if v, err = value(); err == nil {
				if v == "" {
					err = usageError("--address must not be empty")
				}
				address = &v
			}
		case "--count":
			if v, err = value(); err == nil {
				n, convErr := strconv.Atoi(v)
				if convErr != nil || n < 0 || strings.TrimSpace(v) != v {
					err = usageError("--count needs a non-negative integer, got %s", v)
				}
				o.count = n
			}
		case "--timeout":
			if v, err = value(); err == nil {
				t, convErr := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if convErr != nil || t < 0 || t != t || t > 1e9 {
					err = usageError("--timeout needs a number of seconds (0: no deadline), got %s", v)
				}
				o.timeout = t
			}
		case "--user":
			if v, err = value(); err == nil {
				user = &v
			}
		case "--password":
			if v, err = value(); err == nil {
				password = &v
			}
		case "--listen":
			if err = flag(); err == nil {
				err = usageError("--listen is not supported: go-amqp has no listener (this peer connects only)")
			}
		case "--reconnect":
			err = flag()
			o.reconnect = true
		case "--no-reconnect":
			err = flag()
			o.reconnect = false
		case "--quiet":
			err = flag()
			o.quiet = true
		case "--dynamic-capability":
			if v, err = value(); err == nil {
				if v == "" {
					err = usageError("--dynamic-capability must not be empty")
				}
				o.dynamicCaps = append(o.dynamicCaps, v)
			}
		case "--help":
			return nil, errHelp
		default:
			err = usageError("unknown option: %s", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(positional) > 0 && role != "request" {
		return nil, usageError("unexpected argument for %s: %s", role, positional[0])
	}
	if o.count < 0 {
		o.count = defaultCount[role]
	}
	if role == "send" && o.count < 1 {
		return nil, usageError("send needs --count of at least 1")
	}
	if o.timeout < 0 {
		o.timeout = defaultTimeout
		if (role == "receive" || role == "serve") && o.count == 0 {
			o.timeout = 0 // runs until killed
		}
	}
	u, err := parseURL(urlText)
	if err != nil {
		return nil, err
	}
	o.host, o.port = u.host, u.port
	o.address = defaultAddress
	if u.address != "" {
		o.address = u.address
	}
	if address != nil {
		o.address = *address
	}
	o.user, o.password = u.user, u.password
	if user != nil {
		o.user = user
	}
	if password != nil {
		o.password = password
	}
	if o.password != nil && o.user == nil {
		return nil, usageError("--password needs --user")
	}
	if role == "request" {
		o.requests = defaultRequests
		if len(positional) > 0 {
			o.requests = positional
		}
	}
	return o, nil
}

// hostPort is host:port as it goes in a URL (IPv6 in brackets).
func (o *options) hostPort() string {
	host := o.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s:%d", host, o.port)
}

// effective is the result's `options` object: the values this run uses, after the defaults.
func (o *options) effective() obj {
	var count any
	if _, uses := defaultCount[o.role]; uses {
		count = o.count
	}
	var user, password, requests any
	if o.user != nil {
		user = *o.user
	}
	if o.password != nil {
		password = "***"
	}
	if o.role == "request" {
		requests = o.requests
	}
	return obj{
		{"url", "amqp://" + o.hostPort()},
		{"address", o.address},
		{"count", count},
		{"listen", false},
		{"reconnect", o.reconnect},
		{"timeout", o.timeout},
		{"user", user},
		{"password", password},
		{"quiet", o.quiet},
		{"requests", requests},
		{"dynamic_capabilities", append([]string{}, o.dynamicCaps...)},
	}
}
