'use strict';
/*
 * AMQP values <-> the contract's JSON, for the rhea peer.
 *
 * rhea unwraps message properties to plain JavaScript values and so loses the
 * AMQP type of a message-id: a uuid and a binary id both arrive as a Buffer, and
 * on the way out rhea encodes EVERY Buffer id as a uuid. The peer must print a
 * uuid as its string form and a binary as hex (CONTRACT.md) and must echo a
 * correlation-id with its original type (serve), so this module re-reads the
 * typecodes of the properties section when an id is a Buffer.
 */

const rhea = require('rhea');

const types = rhea.types;

const UUID = 0x98;
const BINARY = [0xa0, 0xb0];
const ULONG = 0x80;
const PROPERTIES = [0x73, 'amqp:properties:list'];
const DATA_SECTION = 0x75;
const SEQUENCE_SECTION = 0x76;

/** Field index of message-id and correlation-id in the properties list. */
const ID_FIELDS = { message_id: 0, correlation_id: 5 };

/** Typecodes of message_id / correlation_id, kept off the enumerable fields. */
const ID_TYPES = Symbol('amqp-id-typecodes');

function uuidString(buf) {
    const h = buf.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function isTyped(v) {
    return v !== null && typeof v === 'object' && typeof v.toRheaTyped === 'function' && v.type;
}

function isSection(v) {
    return v !== null && typeof v === 'object' && typeof v.collect_sections === 'function';
}

/** Any decoded AMQP value to JSON per the contract (binary as hex, maps as objects). */
function toJson(v) {
    if (v === undefined || v === null) return null;
    if (Buffer.isBuffer(v)) return v.toString('hex');
    if (v instanceof Date) return v.getTime();
    if (typeof v === 'bigint') return v.toString();
    if (Array.isArray(v)) return v.map(toJson);
    if (isTyped(v)) {
        if (v.descriptor !== undefined) {
            return { descriptor: toJson(v.descriptor.value), value: toJson(v.value) };
        }
        return toJson(v.value);
    }
    if (typeof v === 'object') {
        const out = {};
        for (const [k, x] of Object.entries(v)) out[k] = toJson(x);
        return out;
    }
    return v;
}

/** A message body (AMQP value, data section(s) or sequence section(s)) to JSON. */
function bodyToJson(body) {
    if (isSection(body)) {
        if (body.typecode === DATA_SECTION || body.typecode === SEQUENCE_SECTION) {
            return toJson(body.content);
        }
    }
    return toJson(body);
}

/** A body as text, for serve: strings as is, data sections decoded as UTF-8. */
function bodyText(body) {
    if (typeof body === 'string') return body;
    if (isSection(body) && body.typecode === DATA_SECTION && Buffer.isBuffer(body.content)) {
        return body.content.toString('utf8');
    }
    if (Buffer.isBuffer(body)) return body.toString('utf8');
    return body === undefined || body === null ? '' : String(body);
}

function recordIdTypes(msg, buffer) {
    const found = {};
    const reader = new types.Reader(buffer);
    while (reader.remaining()) {
        const section = reader.read();
        const d = section.descriptor ? section.descriptor.value : undefined;
        if (PROPERTIES.includes(d) && Array.isArray(section.value)) {
            for (const [name, index] of Object.entries(ID_FIELDS)) {
                const item = section.value[index];
                if (item && item.type) found[name] = item.type.typecode;
            }
            break;
        }
    }
    Object.defineProperty(msg, ID_TYPES, { value: found, enumerable: false });
}

/**
 * Wrap rhea's message decoder so that Buffer ids keep their AMQP typecode.
 * The session module calls rhea.message.decode through the shared module object,
 * so replacing the property is enough; only messages with Buffer ids pay for it.
 */
function installIdTypeRecorder() {
    const original = rhea.message.decode;
    if (original.recordsIdTypes) return;
    const decode = function (buffer) {
        const msg = original(buffer);
        if (Buffer.isBuffer(msg.message_id) || Buffer.isBuffer(msg.correlation_id)) {
            try {
                recordIdTypes(msg, buffer);
            } catch (e) {
                // The original decode succeeded; a second look must not break delivery.
            }
        }
        return msg;
    };
    decode.recordsIdTypes = true;
    rhea.message.decode = decode;
}

function idTypecode(msg, field) {
    const t = msg[ID_TYPES];
    return t ? t[field] : undefined;
}

/** message_id / correlation_id to JSON: uuid string, binary hex, big ulong as decimal text. */
function idToJson(msg, field) {
    const v = msg[field];
    if (Buffer.isBuffer(v)) {
        const code = idTypecode(msg, field);
        if (code === UUID || (code === undefined && v.length === 16)) return uuidString(v);
        if (code === ULONG && v.length === 8) return v.readBigUInt64BE(0).toString();
        return v.toString('hex');
    }
    return toJson(v);
}

/** An id of a received message, re-wrapped with its original AMQP type for sending. */
function idForSending(msg, field) {
    const v = msg[field];
    if (!Buffer.isBuffer(v)) return v;
    const code = idTypecode(msg, field);
    if (BINARY.includes(code)) return types.wrap_binary(v);
    if (code === ULONG) return types.wrap_ulong(v);
    return types.wrap_uuid(v);
}

module.exports = {
    bodyText,
    bodyToJson,
    idForSending,
    idToJson,
    installIdTypeRecorder,
    toJson,
    uuidString,
};
