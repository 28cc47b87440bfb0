#!/usr/bin/env bash
# Rebuild chirp/graphiql/static/vendor from the npm versions pinned in
# package.json and package-lock.json (`make graphiql-assets`); needs Node and npm.
#
# Deterministic: `npm ci` installs exactly the lockfile, esbuild (pinned) only
# minifies the published bundles, and the licence file is written in a fixed
# order, so running this twice gives byte-identical files. The files Chirp
# wrote itself (static/chirp-graphiql.*, static/favicon.svg) are left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
# --ignore-scripts: nothing here needs an install script (esbuild's binary
# comes from its platform package), and none should run on a developer's box.
(cd "$work" && npm ci --ignore-scripts --include=dev --no-audit --no-fund --loglevel=error)
nm="$work/node_modules"
stage="$work/stage"
mkdir "$stage"

# graphiql's "min" UMD files are a webpack development build (3.5 MB, with
# comments and a sourceMappingURL to a map we do not ship); minify them.
# React's UMD production builds are already minified and are copied as is.
"$nm/.bin/esbuild" "$nm/graphiql/graphiql.min.js" --minify --legal-comments=none \
    --log-level=warning --outfile="$stage/graphiql.min.js"
"$nm/.bin/esbuild" "$nm/graphiql/graphiql.min.css" --minify --legal-comments=none \
    --log-level=warning --outfile="$stage/graphiql.min.css"
cp "$nm/react/umd/react.production.min.js" "$nm/react-dom/umd/react-dom.production.min.js" "$stage/"

# One licence file for everything the browser receives: graphiql, react,
# react-dom and every package webpack bundled into graphiql.min.js (read from
# the bundle's module ids). A bundled package missing from node_modules fails
# the build: pin it in package.json's devDependencies for its licence text.
node - "$nm" "$stage/THIRD_PARTY_LICENSES.txt" <<'EOF'
const fs = require("fs");
const path = require("path");
const [nm, outFile] = process.argv.slice(2);
// graphiql's own monorepo packages appear as ../../<dir>/ in the module ids.
const MONOREPO = {
  ".": "graphiql",
  "codemirror-graphql": "codemirror-graphql",
  "graphiql-react": "@graphiql/react",
  "graphiql-toolkit": "@graphiql/toolkit",
  "graphql-language-service": "graphql-language-service",
};
const bundle = fs.readFileSync(path.join(nm, "graphiql/graphiql.min.js"), "utf8");
const names = new Set(["graphiql", "react", "react-dom"]);
for (const [, id] of bundle.matchAll(/^\/\*\*\*\/ "([^"]+)"/gm)) {
  const parts = id.replace(/^(\.\.\/)+/, "").split("/");
  if (parts[0] === "node_modules") {
    names.add(parts[1].startsWith("@") ? `${parts[1]}/${parts[2]}` : parts[1]);
  } else if (id.startsWith("../") || id.startsWith("./")) {
    if (!(parts[0] in MONOREPO)) throw new Error(`unknown bundled module ${id}`);
    names.add(MONOREPO[parts[0]]);
  } // else a webpack external ("react", "react-dom"): loaded from its own file
}
const sections = [...names].sort().map((name) => {
  const dir = path.join(nm, name);
  if (!fs.existsSync(dir)) throw new Error(`${name} is bundled but not installed; pin it`);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const file = fs.readdirSync(dir).sort().find((f) => /^(licen[cs]e|copying)/i.test(f));
  const text = file
    ? fs.readFileSync(path.join(dir, file), "utf8").trim()
    : `(${name} publishes no licence file; its package.json says ${meta.license}.)`;
  return `${"=".repeat(72)}\n${name}@${meta.version} (${meta.license})\n${"=".repeat(72)}\n\n${text}\n`;
});
const header =
  "Third-party software in chirp/graphiql/static/vendor, with its licences.\n" +
  "Versions are those npm resolved for this build (package-lock.json); the\n" +
  "packages inside graphiql.min.js were bundled by the GraphiQL project.\n\n";
fs.writeFileSync(outFile, header + sections.join("\n"));
EOF

rm -rf "$out"
mkdir -p "$out"
cp "$stage"/* "$out/"
echo "vendored into $out:"
(cd "$out" && sha256sum -- *)
