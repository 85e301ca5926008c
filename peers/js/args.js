'use strict';
/*
 * Command line of the rhea peer (peers/CONTRACT.md). Parsing is separate from
 * the AMQP code so that every bad argument is found before a socket is opened:
 * the contract wants one stderr line, exit 2 and nothing on stdout.
 */

const ROLES = ['hello', 'send', 'receive', 'serve', 'request'];
// The option defaults of peers/CONTRACT.md (table "Defaults", data in peers/defaults.json).
const DEFAULT_URL = 'amqp://127.0.0.1:5672';
const DEFAULT_ADDRESS = 'examples';
const DEFAULT_COUNT = { send: 100, receive: 100, serve: 0 }; // hello, request: --count is not used
const DEFAULT_TIMEOUT = 30; // 0 (no deadline) for receive and serve with --count 0
const LISTEN_ROLES = ['hello', 'send', 'receive', 'serve'];
const DEFAULT_REQUESTS = [
    'Twas brillig, and the slithy toves',
    'Did gire and gymble in the wabe.',
    'All mimsy were the borogroves,',
    'And the mome raths outgrabe.',
];
const USAGE =
    'usage: peer.js {hello|send|receive|serve|request} [--url URL] [--address ADDR] [--count N]' +
    ' [--listen] [--reconnect|--no-reconnect] [--timeout SECONDS] [--user U] [--password P]' +
    ' [--quiet] [--dynamic-capability SYMBOL]... [REQUEST...]';

class UsageError extends Error {}

function fail(reason) {
    throw new UsageError(reason);
}

/** Parse amqp://[user[:password]@]host[:port][/address]; a missing scheme means amqp. */
function parseUrl(text, listen) {
    let rest = text;
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
    if (scheme) {
        if (scheme[1].toLowerCase() !== 'amqp') {
            fail(`unsupported URL scheme ${scheme[1]} in ${text} (only amqp)`);
        }
        rest = rest.slice(scheme[0].length);
    }
    const m = /^(?:([^:@/]*)(?::([^@/]*))?@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]+)(?::(\d*))?(?:\/(.*))?$/.exec(
        rest,
    );
    if (!m) fail(`bad URL: ${text}`);
    const [, user, password, host, portText, path] = m;
    let port = 5672;
    if (portText !== undefined && portText !== '') {
        port = Number(portText);
        if (!Number.isInteger(port) || port > 65535) fail(`bad port in URL: ${text}`);
    }
    if (port === 0 && !listen) fail(`port 0 needs --listen: ${text}`);
    const decode = (s) => {
        try {
            return s === undefined || s === '' ? undefined : decodeURIComponent(s);
        } catch (e) {
            return fail(`bad escape in URL: ${text}`);
        }
    };
    return {
        host: host.startsWith('[') ? host.slice(1, -1) : host,
        port,
        user: decode(user),
        password: decode(password),
        address: decode(path),
    };
}

function takeValue(argv, i, name, inline) {
    if (inline !== undefined) return [inline, i];
    if (i + 1 >= argv.length) fail(`option ${name} needs a value`);
    return [argv[i + 1], i + 1];
}

/** Parse argv (without node and script); throws UsageError with a one-line reason. */
function parseArgs(argv) {
    if (argv.length === 0) fail('missing role');
    const role = argv[0];
    if (role === '-h' || role === '--help') throw new UsageError('help');
    if (!ROLES.includes(role)) fail(`unknown role: ${role}`);
    const o = {
        role,
        urlText: DEFAULT_URL,
        address: undefined,
        count: undefined,
        listen: false,
        reconnect: true,
        timeout: undefined,
        user: undefined,
        password: undefined,
        quiet: false,
        dynamicCapabilities: [],
        positional: [],
    };
    for (let i = 1; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--') {
            o.positional.push(...argv.slice(i + 1));
            break;
        }
        if (!arg.startsWith('--') || arg === '-') {
            if (arg.startsWith('-') && arg !== '-') fail(`unknown option: ${arg}`);
            o.positional.push(arg);
            continue;
        }
        const eq = arg.indexOf('=');
        const name = eq > 0 ? arg.slice(0, eq) : arg;
        const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
        const flag = (value) => {
            if (inline !== undefined) fail(`option ${name} takes no value`);
            return value;
        };
        let v;
        switch (name) {
            case '--url':
                [o.urlText, i] = takeValue(argv, i, name, inline);
                break;
            case '--address':
                [o.address, i] = takeValue(argv, i, name, inline);
                if (o.address === '') fail('--address must not be empty');
                break;
            case '--count':
                [v, i] = takeValue(argv, i, name, inline);
                if (!/^\d+$/.test(v)) fail(`--count needs a non-negative integer, got ${v}`);
                o.count = Number(v);
                break;
            case '--timeout':
                [v, i] = takeValue(argv, i, name, inline);
                o.timeout = Number(v);
                if (v.trim() === '' || !Number.isFinite(o.timeout) || o.timeout < 0) {
                    fail(`--timeout needs a number of seconds (0: no deadline), got ${v}`);
                }
                break;
            case '--user':
                [o.user, i] = takeValue(argv, i, name, inline);
                break;
            case '--password':
                [o.password, i] = takeValue(argv, i, name, inline);
                break;
            case '--listen':
                o.listen = flag(true);
                break;
            case '--reconnect':
                o.reconnect = flag(true);
                break;
            case '--no-reconnect':
                o.reconnect = flag(false);
                break;
            case '--quiet':
                o.quiet = flag(true);
                break;
            case '--dynamic-capability':
                // request role: a symbol on the dynamic reply source (repeatable)
                [v, i] = takeValue(argv, i, name, inline);
                if (v === '') fail('--dynamic-capability must not be empty');
                o.dynamicCapabilities.push(v);
                break;
            case '--help':
                throw new UsageError('help');
            default:
                fail(`unknown option: ${name}`);
        }
    }
    if (o.listen && !LISTEN_ROLES.includes(role)) fail(`--listen is not supported for ${role}`);
    if (o.positional.length && role !== 'request') {
        fail(`unexpected argument for ${role}: ${o.positional[0]}`);
    }
    if (o.count === undefined) o.count = role in DEFAULT_COUNT ? DEFAULT_COUNT[role] : 0;
    if (role === 'send' && o.count < 1) fail('send needs --count of at least 1');
    if (o.timeout === undefined) {
        const untilKilled = (role === 'receive' || role === 'serve') && o.count === 0;
        o.timeout = untilKilled ? 0 : DEFAULT_TIMEOUT;
    }
    const url = parseUrl(o.urlText, o.listen);
    if (o.address === undefined) o.address = url.address || DEFAULT_ADDRESS;
    if (o.user === undefined) o.user = url.user;
    if (o.password === undefined) o.password = url.password;
    if (o.password !== undefined && o.user === undefined) fail('--password needs --user');
    o.host = url.host;
    o.port = url.port;
    o.requests = role === 'request' ? (o.positional.length ? o.positional : DEFAULT_REQUESTS) : [];
    return o;
}

/**
 * The result's `options`: the values this run uses, after the contract's defaults.
 * `url` is scheme://host:port (no credentials); `count` is null for the roles that
 * do not use it; the password is masked; `requests` only for the request role.
 */
function effectiveOptions(o) {
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    return {
        url: `amqp://${host}:${o.port}`,
        address: o.address,
        count: o.role in DEFAULT_COUNT ? o.count : null,
        listen: o.listen,
        reconnect: o.reconnect,
        timeout: o.timeout,
        user: o.user === undefined ? null : o.user,
        password: o.password === undefined ? null : '***',
        quiet: o.quiet,
        requests: o.role === 'request' ? [...o.requests] : null,
        dynamic_capabilities: [...o.dynamicCapabilities],
    };
}

module.exports = { DEFAULT_REQUESTS, USAGE, UsageError, effectiveOptions, parseArgs, parseUrl };
