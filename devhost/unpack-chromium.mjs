// `make` step: unpacks the Chromium that the npm package @sparticuz/chromium ships (brotli
// compressed) into node_modules/.cache/chromium/, for the dashboard's browser tests and screenshots.
// Only the files are taken: not the package's own unpacking into /tmp, nor its Lambda launch flags
// (devhost/browser.py launches it). Needs node and tar, nothing from the network.
import { spawnSync } from "node:child_process";
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createBrotliDecompress } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "node_modules", "@sparticuz", "chromium", "bin");
const target = join(root, "node_modules", ".cache", "chromium");

function inflate(archive, into) {
  return pipeline(createReadStream(join(source, archive)), createBrotliDecompress(), createWriteStream(into));
}

async function untar(archive, into) {
  const tarball = join(target, "unpacking.tar");
  await inflate(archive, tarball);
  mkdirSync(into, { recursive: true });
  const tar = spawnSync("tar", ["-xf", tarball, "-C", into], { stdio: "inherit" });
  if (tar.status !== 0) throw new Error(`tar failed (${tar.error || tar.status}) on ${archive}`);
  rmSync(tarball);
}

if (!existsSync(join(source, "chromium.br"))) {
  console.error(`${source}/chromium.br is missing: run npm ci (make does) first.`);
  process.exit(1);
}
rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
const binary = join(target, "chromium");
await inflate("chromium.br", `${binary}.part`);
await untar("al2023.tar.br", join(target, "al2023")); // lib/: NSS and expat, for hosts without them
await untar("swiftshader.tar.br", target); // software GL beside the binary, where Chromium looks
await untar("fonts.tar.br", target); // fonts/: Open Sans, so screenshots look alike on any machine
// Our own fontconfig file: the system's fonts plus the package's, the cache kept in here.
writeFileSync(
  join(target, "fonts.conf"),
  `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>${join(target, "fonts")}</dir>
  <cachedir>${join(target, "fonts-cache")}</cachedir>
</fontconfig>
`,
);
chmodSync(`${binary}.part`, 0o755);
// Renamed last: the binary exists only once everything beside it is in place (make's target).
renameSync(`${binary}.part`, binary);
console.log(`Chromium unpacked into ${target}`);
