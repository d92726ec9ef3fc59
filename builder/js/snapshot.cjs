// Builds a start-up snapshot of typeset.cjs for builder/render/typeset.py:
//   node [flags] snapshot.cjs OUTPUT.blob
// then `node [the same flags] --snapshot-blob OUTPUT.blob` starts with MathJax loaded and
// warmed up (~0.15 s instead of ~0.45 s, and less to compile while typesetting).
//   node snapshot.cjs --bundle OUTPUT.js
// only bundles (setup.py, when a wheel is built: the wheel carries the bundle, not
// node_modules), and
//   node [flags] snapshot.cjs --from BUNDLE.js OUTPUT.blob
// makes the snapshot of such a bundle, without esbuild. The bundle also runs as a plain
// script (`node BUNDLE.js` serves as typeset.cjs does): where no snapshot can be made.
//
// Node 18-21 snapshot one script that may require built-in modules only, so esbuild
// bundles typeset.cjs and the modules it loads into one, with the warm-up and the
// function node runs once it has started from the snapshot. MathJax comes from its
// TypeScript sources (mathjax-full/ts, ~290 files) rather than the ES5 that mathjax-full/js
// has compiled them to: as JavaScript this node runs natively (classes, for-of, spread,
// without ES5's helpers for each), it typesets seed 001's 232 formulas in ~0.75 s instead
// of ~1.0 (warm; the first pass ~1.05 s instead of ~1.45), with the same output.
// The blob is written beside OUTPUT and renamed over it: a reader never sees half of one.

'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// typeset.cjs requires mathjax-full/js/X.js; the bundle takes mathjax-full/ts/X.ts.
const fromTypeScript = {
  name: 'mathjax-from-typescript',
  setup(build) {
    build.onResolve({ filter: /^mathjax-full\/js\/.+\.js$/ }, (args) => ({
      path: path.join(path.dirname(require.resolve('mathjax-full/package.json')), 'ts',
        args.path.slice('mathjax-full/js/'.length).replace(/\.js$/, '.ts')),
    }));
  },
};

async function bundle(entry, script) {
  const esbuild = require('esbuild');
  await esbuild.build({
    stdin: {
      contents: [
        `const typesetter = require(${JSON.stringify(entry)});`,
        "const { startupSnapshot } = require('node:v8');",
        'if (startupSnapshot && startupSnapshot.isBuildingSnapshot()) {',
        '  typesetter.warmUp();',
        '  startupSnapshot.setDeserializeMainFunction(typesetter.serve);',
        '} else {',
        '  typesetter.serve();',
        '}',
      ].join('\n'),
      resolveDir: path.dirname(entry),
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node}`,
    plugins: [fromTypeScript],
    // MathJax is compiled with TypeScript's class fields (assigned in the constructor):
    // with JavaScript's (defined), a subclass's declared field would undo its base's.
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
    outfile: script,
    logLevel: 'warning',
  });
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--bundle') {
    await bundle(require.resolve('./typeset.cjs'), path.resolve(args[1]));
    return;
  }
  const made = args[0] === '--from' ? path.resolve(args[1]) : null;
  const output = path.resolve(args[made ? 2 : 0]);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sheets-snapshot-'));
  try {
    const script = made ?? path.join(work, 'bundle.js');
    if (!made) await bundle(require.resolve('./typeset.cjs'), script);
    const partial = `${output}.${process.pid}.tmp`;
    const built = childProcess.spawnSync(
      process.execPath,
      [...process.execArgv, '--snapshot-blob', partial, '--build-snapshot', script],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    if (built.status !== 0 || !fs.existsSync(partial)) {
      fs.rmSync(partial, { force: true });
      process.stderr.write(`node --build-snapshot failed (${built.status ?? built.signal})\n`);
      process.exit(1);
    }
    fs.renameSync(partial, output);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack || error}\n`);
  process.exit(1);
});
