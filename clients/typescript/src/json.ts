/*
 * Lossless JSON: JSON.parse turns every number into an IEEE double, so a
 * bigint key beyond 2^53 or a 30-digit numeric is silently rounded (and two
 * rows can end up with the same key).  parseJson keeps them: an integer a
 * double cannot hold exactly becomes a BigInt (or a string, as the caller
 * chooses), any other number a double would round becomes its decimal text.
 *
 * Most entries have no such number, so the common case stays JSON.parse:
 * a quick scan looks for a run of 16 or more digits/dots (every number that
 * can lose precision has one) and only then the full parser below runs.  A
 * run inside a string only costs the slower path, never correctness.
 */

export type LargeNumbers = 'bigint' | 'string';

const LONG_RUN = /[0-9.]{16,}/g;
const MAX_SAFE_TEXT = '9007199254740991';

/** True when JSON.parse would give exactly the numbers the text holds. */
function doublesSuffice(text: string): boolean {
	LONG_RUN.lastIndex = 0;
	let m: RegExpExecArray | null;
	while ((m = LONG_RUN.exec(text)) !== null) {
		const run = m[0];
		const next = text.charCodeAt(m.index + run.length);
		// a 16-digit integer up to 2^53-1 (every timestamp in microseconds
		// until the year 2255) is exact; anything else takes the careful path
		if (run.length !== 16 || run.includes('.') || run > MAX_SAFE_TEXT ||
			next === 0x65 /* e */ || next === 0x45 /* E */)
			return false;
	}
	return true;
}

/** Significant digits and exponent of a decimal number's text: 0.D x 10^E. */
function normalize(text: string): [string, number] {
	let s = text[0] === '-' ? text.slice(1) : text;
	let exp = 0;
	const e = s.search(/[eE]/);
	if (e >= 0) {
		exp = parseInt(s.slice(e + 1), 10);
		s = s.slice(0, e);
	}
	const dot = s.indexOf('.');
	let intPart = dot >= 0 ? s.slice(0, dot) : s;
	const frac = dot >= 0 ? s.slice(dot + 1) : '';
	let digits = intPart + frac;
	exp += intPart.length;
	const lead = digits.search(/[1-9]/);
	if (lead < 0)
		return ['', 0];
	digits = digits.slice(lead);
	exp -= lead;
	digits = digits.replace(/0+$/, '');
	return [digits, exp];
}

/** A JSON number token's value, never rounded. */
export function parseNumber(text: string, large: LargeNumbers = 'bigint'): number | bigint | string {
	const isInteger = !/[.eE]/.test(text);
	const n = Number(text);
	if (isInteger) {
		if (Number.isSafeInteger(n))
			return n;
		return large === 'bigint' ? BigInt(text) : text;
	}
	const [digits, exp] = normalize(text);
	// overflow to Infinity or underflow to 0 is a rounding too
	if (!Number.isFinite(n) || (n === 0 && digits !== ''))
		return text;
	if (digits.length <= 15)
		return n;
	// more than 15 significant digits: keep the double only if it is exactly
	// what the text says (float8 output is the shortest round-trip form)
	if (Number.isFinite(n)) {
		const [d2, e2] = normalize(String(n));
		if (d2 === digits && e2 === exp)
			return n;
	}
	return text;
}

/** Parse JSON text; numbers a double would round are kept (see above). */
export function parseJson(text: string, large: LargeNumbers = 'bigint'): any {
	if (doublesSuffice(text))
		return JSON.parse(text);
	return new Parser(text, large).parseDocument();
}

const WS = new Uint8Array(128);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;
const NUMBER_END = /[^0-9eE+\-.]/g;

class Parser {
	private i = 0;

	constructor(private readonly s: string, private readonly large: LargeNumbers) {}

	parseDocument(): any {
		const v = this.value();
		this.ws();
		if (this.i !== this.s.length)
			this.fail('unexpected text after the JSON value');
		return v;
	}

	private fail(what: string): never {
		throw new SyntaxError(`${what} at position ${this.i} of JSON text`);
	}

	private ws(): void {
		const s = this.s;
		while (this.i < s.length) {
			const c = s.charCodeAt(this.i);
			if (c < 128 && WS[c])
				this.i++;
			else
				break;
		}
	}

	private value(): any {
		this.ws();
		const s = this.s;
		const c = s.charCodeAt(this.i);
		switch (c) {
			case 0x7b: return this.object();
			case 0x5b: return this.array();
			case 0x22: return this.string();
			case 0x74: return this.literal('true', true);
			case 0x66: return this.literal('false', false);
			case 0x6e: return this.literal('null', null);
			default:
				if (c === 0x2d || (c >= 0x30 && c <= 0x39))
					return this.number();
				return this.fail('unexpected character');
		}
	}

	private literal(word: string, v: any): any {
		if (!this.s.startsWith(word, this.i))
			this.fail('unexpected token');
		this.i += word.length;
		return v;
	}

	private number(): number | bigint | string {
		NUMBER_END.lastIndex = this.i;
		const m = NUMBER_END.exec(this.s);
		const end = m ? m.index : this.s.length;
		const tok = this.s.slice(this.i, end);
		if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(tok))
			this.fail('bad number');
		this.i = end;
		return parseNumber(tok, this.large);
	}

	private string(): string {
		const s = this.s;
		const start = this.i;
		let j = start + 1;
		let escaped = false;
		for (;;) {
			if (j >= s.length)
				this.fail('unterminated string');
			const c = s.charCodeAt(j);
			if (c === 0x22)
				break;
			if (c === 0x5c) {
				escaped = true;
				j += 2;
				continue;
			}
			if (c < 0x20)
				this.fail('control character in string');
			j++;
		}
		this.i = j + 1;
		// escapes are rare: let the engine decode them
		return escaped ? JSON.parse(s.slice(start, j + 1)) : s.slice(start + 1, j);
	}

	private array(): any[] {
		this.i++;
		const out: any[] = [];
		this.ws();
		if (this.s.charCodeAt(this.i) === 0x5d) {
			this.i++;
			return out;
		}
		for (;;) {
			out.push(this.value());
			this.ws();
			const c = this.s.charCodeAt(this.i++);
			if (c === 0x5d)
				return out;
			if (c !== 0x2c) {
				this.i--;
				this.fail('expected , or ]');
			}
		}
	}

	private object(): Record<string, any> {
		this.i++;
		const out: Record<string, any> = {};
		this.ws();
		if (this.s.charCodeAt(this.i) === 0x7d) {
			this.i++;
			return out;
		}
		for (;;) {
			this.ws();
			if (this.s.charCodeAt(this.i) !== 0x22)
				this.fail('expected a key');
			const key = this.string();
			this.ws();
			if (this.s.charCodeAt(this.i++) !== 0x3a) {
				this.i--;
				this.fail('expected :');
			}
			const v = this.value();
			if (key === '__proto__')	/* an own property, as JSON.parse makes it */
				Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
			else
				out[key] = v;
			this.ws();
			const c = this.s.charCodeAt(this.i++);
			if (c === 0x7d)
				return out;
			if (c !== 0x2c) {
				this.i--;
				this.fail('expected , or }');
			}
		}
	}
}

/**
 * JSON text of a value that may hold BigInt (as parseJson returns them):
 * BigInt becomes an exact JSON number, e.g. for a jsonb parameter.
 */
export function stringifyJson(value: unknown): string {
	const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `\u0000bigint:${v}\u0000` : v));
	// jsonb text never holds \u0000, so the marker cannot come from the data
	return text === undefined ? text : text.replace(/"\\u0000bigint:(-?[0-9]+)\\u0000"/g, '$1');
}
