// The lossless JSON parser (no server needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, parseNumber } from '../dist/index.js';

test('integers beyond 2^53 stay exact: BigInt or string', () => {
	const text = '{"id":9007199254740993,"neg":-9223372036854775808,"small":42,"ts":1764000000123456}';
	const v = parseJson(text);
	assert.equal(v.id, 9007199254740993n);
	assert.equal(v.neg, -9223372036854775808n);
	assert.equal(v.small, 42);
	assert.equal(v.ts, 1764000000123456);
	const s = parseJson(text, 'string');
	assert.equal(s.id, '9007199254740993');
	assert.equal(s.neg, '-9223372036854775808');
	assert.equal(s.small, 42);
});

test('a 30-digit numeric is kept as its exact text; doubles that round-trip stay numbers', () => {
	const v = parseJson('[123456789012345678901234567890, 1234567890.12345678901234567890, 0.30000000000000004, 1.5, 12.50, 1e400, 5e-324, 1.7976931348623157e308, 9007199254740992.5]');
	assert.equal(v[0], 123456789012345678901234567890n);
	assert.equal(v[1], '1234567890.12345678901234567890');
	assert.equal(v[2], 0.30000000000000004);
	assert.equal(v[3], 1.5);
	assert.equal(v[4], 12.5);
	assert.equal(v[5], '1e400');
	assert.equal(v[6], 5e-324);
	assert.equal(v[7], 1.7976931348623157e308);
	assert.equal(v[8], '9007199254740992.5');
});

test('numbers inside strings are text; escapes, unicode, nesting, __proto__', () => {
	const text = '{"s":"12345678901234567890 \\"q\\" \\u2028 \\ud83d\\ude00","a":[[],{},[1,[2,{"x":null}]]],"t":true,"f":false,"__proto__":{"polluted":1},"big":12345678901234567890}';
	const v = parseJson(text);
	const ref = JSON.parse(text);
	assert.equal(v.s, ref.s);
	assert.deepEqual(v.a, ref.a);
	assert.equal(v.t, true);
	assert.equal(v.f, false);
	assert.equal(Object.getPrototypeOf(v), Object.prototype);
	assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__').value, { polluted: 1 });
	assert.equal({}.polluted, undefined);
	assert.equal(v.big, 12345678901234567890n);
});

test('the careful path agrees with JSON.parse wherever doubles are exact', () => {
	let seed = 7;
	const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
	const gen = (d) => {
		const k = Math.floor(rnd() * (d > 3 ? 4 : 7));
		switch (k) {
			case 0: return Math.floor(rnd() * 1e6) - 5e5;
			case 1: return rnd() * 1000;
			case 2: return 'x' + String.fromCharCode(Math.floor(rnd() * 0x2fff)) + '"\\\n';
			case 3: return null;
			case 4: return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
			default: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => ['k' + i, gen(d + 1)]));
		}
	};
	for (let i = 0; i < 300; i++) {
		const value = { big: 12345678901234567890, v: gen(0) };
		const text = JSON.stringify(value).replace('12345678901234567000', '12345678901234567890');
		const mine = parseJson(text);
		assert.equal(mine.big, 12345678901234567890n);
		assert.deepEqual(mine.v, JSON.parse(text).v);
	}
});

test('bad JSON is a SyntaxError, on both paths', () => {
	for (const bad of ['{', '{"a":1,}', '[1 2]', '{"a":01}', '"\u0001"', '{"a":12345678901234567890', 'tru'])
		assert.throws(() => parseJson(bad), SyntaxError, bad);
});

test('parseNumber', () => {
	assert.equal(parseNumber('-0'), -0);
	assert.equal(parseNumber('9007199254740991'), 9007199254740991);
	assert.equal(parseNumber('9007199254740992'), 9007199254740992n);
	assert.equal(parseNumber('1e29'), 1e29);
	assert.equal(parseNumber('1e-400'), '1e-400');
	assert.equal(parseNumber('0.000'), 0);
});
