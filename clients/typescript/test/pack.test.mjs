// `npm pack` yields an installable package: install the tarball into an
// empty project and import it (types included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

test('npm pack, npm install of the tarball, import', () => {
	const tmp = mkdtempSync(join(tmpdir(), 'cdc-ext-pack-'));
	try {
		const out = execFileSync('npm', ['pack', '--pack-destination', tmp, '--json'], { cwd: pkgDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
		// npm 9 and 10 print an array of packages, npm 11 and later an object
		// keyed by package name (forky's npm 12)
		const packed = JSON.parse(out);
		const info = Array.isArray(packed) ? packed[0] : Object.values(packed)[0];
		const files = info.files.map((f) => f.path);
		assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'compiled code and declarations');
		assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests');
		const app = join(tmp, 'app');
		execFileSync('mkdir', ['-p', app]);
		writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
		execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, info.filename)], { cwd: app, stdio: 'ignore' });
		assert.ok(existsSync(join(app, 'node_modules', 'cdc-ext', 'dist', 'index.d.ts')));
		const r = execFileSync(process.execPath, ['--input-type=module', '-e',
			"import { CdcClient, parseJson } from 'cdc-ext'; const c = new CdcClient({ host: '127.0.0.1', port: 1 }); " +
			"console.log(typeof c.streamChanges, typeof c.replicate, typeof c.consume, String(parseJson('[9007199254740993]')[0])); await c.end();"],
			{ cwd: app, encoding: 'utf8' });
		assert.equal(r.trim(), 'function function function 9007199254740993');
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
});
